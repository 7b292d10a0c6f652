import { SilicaError } from '../core/errors.js';
import { parseBytes } from '../core/units.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { makeCuLayout } from '../hw/gpu/cu-layout.js';
import { cuRange, type CuSet } from '../hw/gpu/cu-mask.js';
import { corunWindows, pairSpeedup, type CorunSide } from '../hw/corun.js';
import { costKernel, type KernelDesc } from '../kernels/desc.js';
import { streamCost, type StreamOp } from '../kernels/elementwise.js';
import type { KernelCost } from '../kernels/types.js';
import { flag, registerRunner, requireHw, wholeNum } from './runners.js';

/**
 * Two streams of one GPU, each running one kernel back to back. By default they hold disjoint CU
 * sets (CU masks; green contexts on NVIDIA): A the first `cus_a` CUs, B the next `cus_b`, so they
 * share only the HBM. With `shared: true` both run on A's `cus_a` CUs (no `cus_b`): two streams
 * on the whole chip, which share the CUs as well (how a copy issued beside a GEMM runs on an
 * NVIDIA GPU, whose device-local copies are SM work: validation/measured/dma_engines.py). The
 * metric is how much each stream slows when the other runs beside it, against running alone on
 * the same CUs, as validation/measured/sm_scaling.py measures it: both start together and each
 * stream's window is its own first launch to its own last completion; `pair_speedup` is what
 * co-running bought over running the two one after the other.
 */

function sideKernel(hw: HardwareConfig, desc: unknown, set: CuSet, key: string): KernelCost {
  const d = desc as { op?: string; array_bytes?: string | number };
  if (!d || typeof d !== 'object' || typeof d.op !== 'string') throw new SilicaError(`validation params.${key}: expected a kernel description {op: ...}`);
  if (['copy', 'scale', 'add', 'triad'].includes(d.op)) return streamCost(d.op as StreamOp, parseBytes(d.array_bytes ?? '1GiB'));
  return costKernel(hw, d as KernelDesc, set);
}

/** Most kernel launches one side of a co-run may queue (each is an object in memory until it runs). */
export const MAX_CORUN_LAUNCHES = 1_000_000;

/** Refuses a side of more than MAX_CORUN_LAUNCHES launches, naming the parameter that set it. */
export function checkCorunLaunches(side: CorunSide, key: string): CorunSide {
  const launches = side.reps * side.kernels.length;
  if (launches > MAX_CORUN_LAUNCHES) {
    throw new SilicaError(`validation params.${key}: ${launches.toLocaleString('en-US')} kernel launches; expected at most ${MAX_CORUN_LAUNCHES.toLocaleString('en-US')}`);
  }
  return side;
}

registerRunner('corun', (hw, p) => {
  const cfg = requireHw(hw, 'corun');
  const layout = makeCuLayout(cfg.compute);
  const shared = flag(p, 'shared');
  const cusA = wholeNum(p, 'cus_a', 1, { unit: 'CUs' });
  if (shared && p.cus_b !== undefined) throw new SilicaError('validation params.cus_b: not with shared: true (both streams run on the cus_a CUs)');
  const cusB = shared ? 0 : wholeNum(p, 'cus_b', 1, { unit: 'CUs' });
  if (cusA + cusB > layout.cus) throw new SilicaError(`validation params: cus_a + cus_b = ${cusA + cusB} is more than the ${layout.cus} CUs of ${cfg.name}`);
  const setA = cuRange(layout, 0, cusA);
  const setB = shared ? setA : cuRange(layout, cusA, cusB);
  const a = checkCorunLaunches({ kernels: [sideKernel(cfg, p.a, setA, 'a')], set: setA, reps: wholeNum(p, 'reps_a', 1, { unit: 'launches' }) }, 'reps_a');
  const b = checkCorunLaunches({ kernels: [sideKernel(cfg, p.b, setB, 'b')], set: setB, reps: wholeNum(p, 'reps_b', 1, { unit: 'launches' }) }, 'reps_b');
  const w = corunWindows(cfg, a, b);
  return {
    a_slowdown: w.aTogetherNs / w.aAloneNs,
    b_slowdown: w.bTogetherNs / w.bAloneNs,
    pair_speedup: pairSpeedup(w),
    a_alone_ms: w.aAloneNs / 1e6,
    b_alone_ms: w.bAloneNs / 1e6,
    // Where the part models its power cap: the median clocks, as NVML samples them in each window.
    ...(cfg.compute.power && { a_alone_mhz: w.aAloneMhz, b_alone_mhz: w.bAloneMhz, together_mhz: w.togetherMhz }),
  };
});
