import type { Resource } from '../../core/flow-network.js';
import type { Flow, Simulator } from '../../core/simulator.js';
import type { KernelTiming } from './kernel-timing.js';

/**
 * The pace a running kernel keeps against its isolated one, as the GPU's governors set it: the
 * clock under the power cap (power.ts) and the HBM's load (hbm-load.ts). It re-rates the flow: its
 * rate cap (the critical path) and the CU time it needs per unit of progress, since its workgroups
 * hold their CUs the longer they take.
 *
 * A workgroup's arithmetic follows the clock. Its DRAM port time follows both: the SM issues its
 * requests at a rate per clock, and each waits the longer for the HBM's load, so the two stretch
 * it one after the other (clock x share). Taking only the worse of the two instead ("a kernel held
 * by the HBM keeps its pace whatever the clock") left the decode-shaped GEMM on 64 SMs of an H200
 * at 1.09x beside cuBLAS GEMMs that lower the clock 1.35x, where it slows 1.34x
 * (validation/clock-coupling.yaml: mean error 8.0% against 6.5% as here). Where neither governor
 * runs (no knee), the pace is the clock's alone, as before the knee.
 */
/**
 * Passes of one solve of the rates (Simulator.onSolved) in which a governor may still move a pace
 * it sets by the rates the kernels got (power.ts: the clock by their work; hbm-load.ts: the HBM's
 * load by their demand at that work). After them a pace stays where the last pass left it.
 */
export const PACE_PASSES = 16;
/** A move of a pace's clock or share smaller than this (relative) is not made: the fixed point is reached. */
export const PACE_TOLERANCE = 1e-6;
/** A rate within this (relative) of its pace is its pace: the solver's rounding is no lost work. */
const WORK_ROUNDING = 1e-9;
/** A resource whose usage is within this (relative) of its capacity is full: it is what holds its flows. */
const FULL = 1e-9;

export class KernelPace {
  /** The clock together over the kernel's clock alone (power.ts; 1 without a cap, or for a kernel that does not follow it). */
  clock = 1;
  /** The share of its DRAM port demand the HBM gives now (hbm-load.ts); undefined on a part with a hard capacity. */
  share: number | undefined;
  private applied = 1;
  /** Its flow's progress rate alone (units/ns): one unit over its isolated time less its launch latency. */
  private readonly isolatedRate: number;
  /** workShare and requestShare as of the solve numbered `workStamp` (Simulator.solves). */
  private work = 1;
  private requests = 1;
  private workStamp: number;

  constructor(
    private readonly sim: Simulator,
    readonly flow: Flow,
    readonly timing: KernelTiming,
    /** The GPU's CU-group resources: the kernel's CU time on them follows its pace. */
    private readonly cuGroups: readonly Resource[],
  ) {
    const span = timing.isolatedNs - timing.fixedNs;
    this.isolatedRate = span > 0 ? 1 / span : 0;
    // Not solved yet: until it is, it does all its work.
    this.workStamp = sim.solves;
  }

  /** Fraction of its isolated pace the kernel keeps now. */
  speed(): number {
    const t = this.timing;
    if (this.share === undefined || !(t.wgDramNs > 0)) return this.clock;
    const wgNs = Math.max(t.wgClockedNs / this.clock, t.wgDramNs / (this.clock * this.share)) + t.wgExposedNs / this.clock;
    return Math.min(1, t.wgNs / wgNs);
  }

  /**
   * The share of the work its pace allows that the kernel did at the last solve of the rates: its
   * flow's rate over its isolated rate times the pace it was rated at, at most 1. Below 1 where other
   * flows take the time of its CUs (kernels that share SMs take turns) or the HBM's bandwidth; 1
   * until its flow is first solved. Read once per solve, before any governor re-rates it (apply
   * reads it first), so every governor sees the same share: the power governor charges the work's
   * power, and the HBM's load counts the demand of the work a kernel held by its CUs does
   * (requestShare).
   */
  workShare(): number {
    this.read();
    return this.work;
  }

  /**
   * The share of its DRAM demand the kernel kept in flight at the last solve (hbm-load.ts): its share
   * of work where its CUs held it back (a CU group it draws on was full, its other resources not:
   * other kernels took the time of its CUs, and it keeps no requests in flight where it does not
   * run), else 1: a kernel held by the HBM's bandwidth, or by nothing, keeps its SMs' requests in
   * flight whatever it moves (a closed queue).
   */
  requestShare(): number {
    this.read();
    return this.requests;
  }

  /** Reads the shares off the last solve's rates, once per solve (Simulator.solves). */
  private read(): void {
    const solves = this.sim.solves;
    if (this.workStamp === solves) return;
    this.workStamp = solves;
    const flow = this.flow;
    const paced = this.applied * this.isolatedRate;
    const share = flow.finished || !(paced > 0) ? 1 : flow.rate / paced;
    this.work = share >= 1 - WORK_ROUNDING ? 1 : share;
    let cusFull = false;
    let othersFull = false;
    if (this.work < 1) {
      for (const d of flow.demands) {
        const r = d.resource;
        if (!(d.perUnit > 0) || r.usage < r.capacity * (1 - FULL)) continue;
        if (this.cuGroups.includes(r)) cusFull = true;
        else othersFull = true;
      }
    }
    this.requests = cusFull && !othersFull ? this.work : 1;
  }

  /** Re-rates the flow to `speed()`; returns whether it changed (the caller invalidates the rates once). */
  apply(): boolean {
    const speed = this.speed();
    if (speed === this.applied) return false;
    // The shares at the rates solved for the old pace, kept before the pace moves.
    this.read();
    const scale = this.applied / speed;
    this.applied = speed;
    if (this.timing.criticalNs > 0) this.sim.setMaxRate(this.flow, speed / this.timing.criticalNs);
    // A kernel on kept CUs draws no CU time from the pool (0 stays 0).
    for (const d of this.flow.demands) if (this.cuGroups.includes(d.resource)) d.perUnit *= scale;
    return true;
  }
}
