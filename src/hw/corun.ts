import type { HardwareConfig } from './config/schema.js';
import type { CuSet } from './gpu/cu-mask.js';
import { Stream } from './gpu/gpu.js';
import { System } from './system.js';
import type { KernelCost } from '../kernels/types.js';

/**
 * Two streams of one GPU, each running its kernels back to back on a CU set of its own (CU masks;
 * green contexts on NVIDIA) or on the same one, both queued at time 0: each stream's window from
 * its first launch to its last completion, alone and together, as validation/measured/sm_scaling.py
 * measures it. Used by the `corun` validation runner and the `corun` experiment kind.
 */

/** One stream of a co-run: `reps` passes over `kernels`, back to back, on the CU set `set`. */
export interface CorunSide {
  kernels: readonly KernelCost[];
  set: CuSet;
  reps: number;
}

export interface CorunWindows {
  aAloneNs: number;
  bAloneNs: number;
  aTogetherNs: number;
  bTogetherNs: number;
  /** Median clock (MHz) while kernels ran, as NVML samples it: NaN on a part without `compute.power`. */
  aAloneMhz: number;
  bAloneMhz: number;
  togetherMhz: number;
}

/**
 * Each stream's window in ns (its kernels queued on a stream of its CUs, both queued at time 0), the
 * median clock while they ran, and the median clock over each stream's own window (from time 0 to
 * its last completion).
 */
function windows(hw: HardwareConfig, sides: readonly (CorunSide | undefined)[]): { ends: number[]; mhz: number; mhzOver: number[] } {
  const system = new System(hw, 1);
  const gpu = system.gpus[0]!;
  gpu.recordKernels = false;
  if (gpu.governor) gpu.governor.logClock = true;
  const ends = sides.map(() => NaN);
  const mhzOver = sides.map(() => NaN);
  const ended = (i: number) => () => {
    ends[i] = system.sim.nowNs;
    if (gpu.governor) mhzOver[i] = gpu.governor.medianMhz();
  };
  sides.forEach((side, i) => {
    if (!side) return;
    const stream = new Stream(gpu, `side${i}`, side.set);
    const timings = side.kernels.map((k) => gpu.timing(k, side.set));
    const last = side.reps * side.kernels.length;
    for (let n = 1; n <= last; n++) {
      const k = (n - 1) % side.kernels.length;
      stream.enqueue(side.kernels[k]!, { timing: timings[k], onComplete: n === last ? ended(i) : undefined });
    }
  });
  system.sim.run();
  return { ends, mhz: gpu.governor ? gpu.governor.medianMhz() : NaN, mhzOver };
}

/** One side alone: its window (ns) and the median clock while it ran (NaN on a part without `compute.power`). */
export function aloneWindow(hw: HardwareConfig, side: CorunSide): { ns: number; mhz: number } {
  const w = windows(hw, [side]);
  return { ns: w.ends[0]!, mhz: w.mhz };
}

/** The median clock (MHz) while one side runs alone, as NVML samples it: NaN on a part without `compute.power`. */
export function aloneMhz(hw: HardwareConfig, side: CorunSide): number {
  return aloneWindow(hw, side).mhz;
}

/** Both sides together: each one's window (ns), the median clock while they ran, and the median clock over A's window alone. */
export function togetherWindows(hw: HardwareConfig, a: CorunSide, b: CorunSide): { aNs: number; bNs: number; mhz: number; aMhz: number } {
  const w = windows(hw, [a, b]);
  return { aNs: w.ends[0]!, bNs: w.ends[1]!, mhz: w.mhz, aMhz: w.mhzOver[0]! };
}

/** The co-run as sm_scaling.py and serving_steps.py measure it: each side alone, then both together. */
export function corunWindows(hw: HardwareConfig, a: CorunSide, b: CorunSide): CorunWindows {
  const aAlone = aloneWindow(hw, a);
  const bAlone = aloneWindow(hw, b);
  const together = togetherWindows(hw, a, b);
  return {
    aAloneNs: aAlone.ns,
    bAloneNs: bAlone.ns,
    aTogetherNs: together.aNs,
    bTogetherNs: together.bNs,
    aAloneMhz: aAlone.mhz,
    bAloneMhz: bAlone.mhz,
    togetherMhz: together.mhz,
  };
}

/**
 * How much faster the pair runs together than one after the other: the two alone windows over the
 * later of the two together. 1 means co-running bought nothing (the kernels took turns).
 */
export function pairSpeedup(w: CorunWindows): number {
  return (w.aAloneNs + w.bAloneNs) / Math.max(w.aTogetherNs, w.bTogetherNs);
}
