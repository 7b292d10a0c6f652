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
export class KernelPace {
  /** The clock together over the kernel's clock alone (power.ts; 1 without a cap, or for a kernel that does not follow it). */
  clock = 1;
  /** The share of its DRAM port demand the HBM gives now (hbm-load.ts); undefined on a part with a hard capacity. */
  share: number | undefined;
  private applied = 1;

  constructor(
    readonly flow: Flow,
    readonly timing: KernelTiming,
    /** The GPU's CU-group resources: the kernel's CU time on them follows its pace. */
    private readonly cuGroups: readonly Resource[],
  ) {}

  /** Fraction of its isolated pace the kernel keeps now. */
  speed(): number {
    const t = this.timing;
    if (this.share === undefined || !(t.wgDramNs > 0)) return this.clock;
    const wgNs = Math.max(t.wgClockedNs / this.clock, t.wgDramNs / (this.clock * this.share)) + t.wgExposedNs / this.clock;
    return Math.min(1, t.wgNs / wgNs);
  }

  /** Re-rates the flow to `speed()`; returns whether it changed (the caller invalidates the rates once). */
  apply(sim: Simulator): boolean {
    const speed = this.speed();
    if (speed === this.applied) return false;
    const scale = this.applied / speed;
    this.applied = speed;
    if (this.timing.criticalNs > 0) sim.setMaxRate(this.flow, speed / this.timing.criticalNs);
    // A kernel on kept CUs draws no CU time from the pool (0 stays 0).
    for (const d of this.flow.demands) if (this.cuGroups.includes(d.resource)) d.perUnit *= scale;
    return true;
  }
}
