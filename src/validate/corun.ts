import { SilicaError } from '../core/errors.js';
import { parseBytes } from '../core/units.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { makeCuLayout } from '../hw/gpu/cu-layout.js';
import { cuRange, type CuSet } from '../hw/gpu/cu-mask.js';
import { Stream } from '../hw/gpu/gpu.js';
import { System } from '../hw/system.js';
import { costKernel, type KernelDesc } from '../kernels/desc.js';
import { streamCost, type StreamOp } from '../kernels/elementwise.js';
import type { KernelCost } from '../kernels/types.js';
import { num, registerRunner, requireHw, wholeNum } from './runners.js';

/**
 * Two streams on disjoint CU sets of one GPU (CU masks; green contexts on NVIDIA), each running one
 * kernel back to back: A on the first `cus_a` CUs, B on the next `cus_b`. The metric is how much
 * each stream slows when the other runs beside it (shared HBM), against running alone on the
 * same CUs, as validation/measured/sm_scaling.py measures it: both start together and each
 * stream's window is its own first launch to its own last completion.
 */
interface Side {
  kernel: KernelCost;
  set: CuSet;
  reps: number;
}

function sideKernel(hw: HardwareConfig, desc: unknown, set: CuSet, key: string): KernelCost {
  const d = desc as { op?: string; array_bytes?: string | number };
  if (!d || typeof d !== 'object' || typeof d.op !== 'string') throw new SilicaError(`validation params.${key}: expected a kernel description {op: ...}`);
  if (['copy', 'scale', 'add', 'triad'].includes(d.op)) return streamCost(d.op as StreamOp, parseBytes(d.array_bytes ?? '1GiB'));
  return costKernel(hw, d as KernelDesc, set);
}

/** Each stream's window in ns: `reps` launches of its kernel queued on a stream of its CUs. */
function windows(hw: HardwareConfig, sides: readonly (Side | undefined)[]): number[] {
  const system = new System(hw, 1);
  const gpu = system.gpus[0]!;
  gpu.recordKernels = false;
  const ends = sides.map(() => NaN);
  sides.forEach((side, i) => {
    if (!side) return;
    const stream = new Stream(gpu, `side${i}`, side.set);
    const timing = gpu.timing(side.kernel, side.set);
    for (let r = 1; r <= side.reps; r++) stream.enqueue(side.kernel, { timing, onComplete: r === side.reps ? () => (ends[i] = system.sim.nowNs) : undefined });
  });
  system.sim.run();
  return ends;
}

registerRunner('corun', (hw, p) => {
  const cfg = requireHw(hw, 'corun');
  const cusA = num(p, 'cus_a');
  const cusB = num(p, 'cus_b');
  const layout = makeCuLayout(cfg.compute);
  if (cusA + cusB > layout.cus) throw new SilicaError(`validation params: cus_a + cus_b = ${cusA + cusB} is more than the ${layout.cus} CUs of ${cfg.name}`);
  const setA = cuRange(layout, 0, cusA);
  const setB = cuRange(layout, cusA, cusB);
  const a: Side = { kernel: sideKernel(cfg, p.a, setA, 'a'), set: setA, reps: wholeNum(p, 'reps_a', 1, { unit: 'launches' }) };
  const b: Side = { kernel: sideKernel(cfg, p.b, setB, 'b'), set: setB, reps: wholeNum(p, 'reps_b', 1, { unit: 'launches' }) };
  const [aloneA] = windows(cfg, [a, undefined]);
  const [, aloneB] = windows(cfg, [undefined, b]);
  const [togetherA, togetherB] = windows(cfg, [a, b]);
  return { a_slowdown: togetherA! / aloneA!, b_slowdown: togetherB! / aloneB!, a_alone_ms: aloneA! / 1e6, b_alone_ms: aloneB! / 1e6 };
});
