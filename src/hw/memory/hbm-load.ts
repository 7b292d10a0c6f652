import type { Simulator } from '../../core/simulator.js';
import type { CuSet } from '../gpu/cu-mask.js';
import type { KernelPace } from '../gpu/pace.js';
import { hbmLoadShare, type HbmKnee } from './hbm-knee.js';

/**
 * The HBM's knee (hbm-knee.ts) as it acts on kernels that run at the same time on one GPU.
 *
 * Every running kernel draws its demand (bytes/ns at the kernel's unloaded pace: the requests its
 * SMs keep in flight, which a closed queue holds whatever the latency), and each kernel's DRAM port
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
 */
export class HbmLoadGovernor {
  private readonly running: Array<{ pace: KernelPace; cus: CuSet }> = [];
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
  }

  /** A kernel's flow started on `cus`: its DRAM demand joins the HBM's. Returns the handle `finished` takes (undefined: no DRAM traffic). */
  started(pace: KernelPace, cus: CuSet): object | undefined {
    if (!(pace.timing.hbmDemandBytesPerNs > 0)) return undefined;
    const entry = { pace, cus };
    this.running.push(entry);
    this.retune();
    return entry;
  }

  finished(handle: object | undefined): void {
    const i = handle ? this.running.indexOf(handle as { pace: KernelPace; cus: CuSet }) : -1;
    if (i < 0) return;
    this.running.splice(i, 1);
    this.retune();
  }

  /** Each CU's DRAM demand, bytes/ns: each running kernel's spread over its CUs (into cuDemand). */
  private spreadDemand(): void {
    const perCu = this.cuDemand;
    perCu.fill(0);
    for (const { pace, cus } of this.running) {
      const share = pace.timing.hbmDemandBytesPerNs / cus.count;
      const enabled = cus.enabled;
      for (let i = 0; i < enabled.length; i++) if (enabled[i]) perCu[i]! += share;
    }
  }

  /** The load `self`'s requests meet, bytes/ns: its ports' demand in place of its draw, each CU capped at its port. */
  private loadMetBy(self: { pace: KernelPace; cus: CuSet }): number {
    const t = self.pace.timing;
    const extra = (t.hbmPortDemandBytesPerNs - t.hbmDemandBytesPerNs) / self.cus.count;
    const enabled = self.cus.enabled;
    const perCu = this.cuDemand;
    let total = 0;
    for (let i = 0; i < perCu.length; i++) total += Math.min(this.portBytesPerNs, perCu[i]! + (enabled[i] ? extra : 0));
    return total;
  }

  private retune(): void {
    // Summed afresh each time, not added and subtracted: a long run of starts and ends must not drift.
    // Alone, a kernel keeps the share its isolated time has (the same load, taken once there).
    const alone = this.running.length === 1;
    if (!alone) this.spreadDemand();
    let changed = false;
    for (const entry of this.running) {
      const pace = entry.pace;
      if (pace.flow.finished) continue;
      pace.share = alone ? pace.timing.hbmLoadShare : hbmLoadShare(this.loadMetBy(entry), this.knee);
      if (pace.apply(this.sim)) changed = true;
    }
    if (changed) this.sim.invalidateRates();
  }
}
