import type { Simulator } from '../../core/simulator.js';
import type { CuSet } from '../gpu/cu-mask.js';
import { PACE_PASSES, PACE_TOLERANCE, type KernelPace } from '../gpu/pace.js';
import { hbmLoadShare, type HbmKnee } from './hbm-knee.js';

/**
 * The HBM's knee (hbm-knee.ts) as it acts on kernels that run at the same time on one GPU.
 *
 * Every running kernel draws its demand (bytes/ns at the kernel's unloaded pace: the requests its
 * SMs keep in flight, which a closed queue holds whatever the latency), and a kernel that waits for
 * CUs another holds asks only for the work it does: its demand times its share of work (the rate it
 * got over the rate its pace allows, as the power governor charges it: KernelPace.requestShare).
 * One held by the HBM's bandwidth keeps its requests in flight. Each kernel's DRAM port
 * time stretches by the knee's share at the load its own requests meet: the others' demand plus
 * its own ports' (kernel-timing.ts: the stretch only holds a kernel back while its ports are what
 * hold it, and then they ask at their own rate). For streams the two demands are one, and every
 * kernel's requests wait alike; a GEMM paced by its arithmetic adds only the bytes it draws.
 * The sum is taken SM by SM, each SM asking at most its port's rate (compute.dram_gbps_per_cu):
 * kernels on the same SMs split those SMs' requests in flight, so two copies sharing the whole chip
 * ask what one does (an H200 runs them in 1.98x the time of one, validation/shared-sms.yaml), while
 * kernels on disjoint SMs add up.
 * A kernel whose port time then outlasts its arithmetic slows: an 8-SM copy beside a copy on 48
 * other SMs moves 1.49x slower on an H200 (validation/loaded-latency.yaml), where a hard capacity
 * leaves it at its pace until the HBM is full. A GEMM whose arithmetic covers the longer wait
 * keeps its pace. Like the power governor it is relative: a kernel alone keeps its isolated time,
 * which has its own load's share in it already. Kernels launched through `Gpu.launch` take part;
 * DMA transfers, T3's producers and CU-engine collectives do not.
 *
 * The load and the rates are a fixed point: the load sets the paces, the paces the rates, the rates
 * the shares of work and so the load. After every solve of the rates (Simulator.onSolved) the shares
 * are read and each kernel's share of the HBM set again where it moves by more than PACE_TOLERANCE,
 * in the first PACE_PASSES passes. Where kernels share CUs a share of work does not depend on the
 * pace (the CU time a kernel needs per unit follows it) and one pass settles it.
 */
export class HbmLoadGovernor {
  private readonly running: Running[] = [];
  /** Bytes/ns each CU's running kernels draw (scratch for retune). */
  private readonly cuDemand: Float64Array;

  constructor(
    private readonly sim: Simulator,
    private readonly knee: HbmKnee,
    /** The most DRAM bytes/ns one CU asks (compute.dram_gbps_per_cu). */
    private readonly portBytesPerNs: number,
    chipCus: number,
  ) {
    this.cuDemand = new Float64Array(chipCus);
    sim.onSolved((pass) => {
      if (pass < PACE_PASSES && this.running.length > 1) this.retune(PACE_TOLERANCE);
    });
  }

  /** A kernel's flow started on `cus`: its DRAM demand joins the HBM's. Returns the handle `finished` takes (undefined: no DRAM traffic). */
  started(pace: KernelPace, cus: CuSet): object | undefined {
    if (!(pace.timing.hbmDemandBytesPerNs > 0)) return undefined;
    const entry: Running = { pace, cus, work: 1 };
    this.running.push(entry);
    this.retune(0);
    return entry;
  }

  finished(handle: object | undefined): void {
    const i = handle ? this.running.indexOf(handle as Running) : -1;
    if (i < 0) return;
    this.running.splice(i, 1);
    this.retune(0);
  }

  /** Each CU's DRAM demand, bytes/ns: each running kernel's at its share of work, spread over its CUs (into cuDemand). */
  private spreadDemand(): void {
    const perCu = this.cuDemand;
    perCu.fill(0);
    for (const { pace, cus, work } of this.running) {
      const share = (pace.timing.hbmDemandBytesPerNs * work) / cus.count;
      const enabled = cus.enabled;
      for (let i = 0; i < enabled.length; i++) if (enabled[i]) perCu[i]! += share;
    }
  }

  /** The load `self`'s requests meet, bytes/ns: its ports' demand in place of its draw (both at its share of work), each CU capped at its port. */
  private loadMetBy(self: Running): number {
    const t = self.pace.timing;
    const extra = ((t.hbmPortDemandBytesPerNs - t.hbmDemandBytesPerNs) * self.work) / self.cus.count;
    const enabled = self.cus.enabled;
    const perCu = this.cuDemand;
    let total = 0;
    for (let i = 0; i < perCu.length; i++) total += Math.min(this.portBytesPerNs, perCu[i]! + (enabled[i] ? extra : 0));
    return total;
  }

  /** Sets each running kernel's share of the HBM by the load it meets, where it moves by more than `tolerance` (relative). */
  private retune(tolerance: number): void {
    // Summed afresh each time, not added and subtracted: a long run of starts and ends must not drift.
    // Alone, a kernel keeps the share its isolated time has (the same load, taken once there).
    const alone = this.running.length === 1;
    if (!alone) {
      // The shares of work of the last solve (a kernel not yet solved does all its work).
      for (const entry of this.running) entry.work = entry.pace.requestShare();
      this.spreadDemand();
    }
    let changed = false;
    for (const entry of this.running) {
      const pace = entry.pace;
      if (pace.flow.finished) continue;
      const share = alone ? pace.timing.hbmLoadShare : hbmLoadShare(this.loadMetBy(entry), this.knee);
      if (pace.share !== undefined && Math.abs(share - pace.share) <= tolerance * pace.share) continue;
      pace.share = share;
      if (pace.apply()) changed = true;
    }
    if (changed) this.sim.invalidateRates();
  }
}

/** One running kernel as the load governor sees it. */
interface Running {
  pace: KernelPace;
  cus: CuSet;
  /** The share of its demand it kept in flight at the last solve (KernelPace.requestShare), read at each retune. */
  work: number;
}
