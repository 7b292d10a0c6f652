import { SilicaError } from '../../core/errors.js';
import { gemmCost } from '../../kernels/gemm.js';
import { DTYPE_BYTES, type Dtype, type HardwareConfig } from '../config/schema.js';
import { cuRange, type CuSet } from '../gpu/cu-mask.js';
import { Stream, type Gpu } from '../gpu/gpu.js';
import type { KernelCost } from '../../kernels/types.js';
import { System } from '../system.js';
import { simulateCollective, startCollective } from './index.js';

/**
 * The T3 motivation experiment: a tensor-parallel producer GEMM (row-parallel, its M x N output
 * all-reduced over the TP group) run three ways on every GPU of the group:
 * - sequential: the GEMM on all CUs, then the all-reduce (ring RS + AG, CU engine, default CUs);
 * - ideal overlap: max(GEMM alone, all-reduce alone), no contention at all;
 * - overlap on k CUs: the GEMM cut into `chunks` row blocks on the other CUs; as soon as a block
 *   is done on every GPU its all-reduce starts on k CUs (one communication queue), concurrent
 *   with the next block's GEMM. The GEMM loses the k CUs and shares HBM with the collective, and
 *   the collective is limited by what k CUs move: both come out of the flow model.
 * Published (secondary reading, mission.md): 1.18x with 8 of 80 CUs, 1.49x with 16, 1.67x ideal.
 */
export const PUBLISHED_CU_OVERLAP = {
  source: 'T3 (Pati et al., ASPLOS 2024), motivation; a secondary reading, as the project brief summarises it',
  ideal: 1.67,
  byCus: { 8: 1.18, 16: 1.49 } as Record<number, number>,
};

export interface CuOverlapOptions {
  gpus: number;
  m: number;
  n: number;
  k: number;
  dtype: Dtype;
  chunks: number;
  overlapCus: number[];
  /** How messages name the CU list (default `--overlap-cus`; the CLI says when it is the default). */
  overlapCusField?: string;
}

/** The run's inputs (less the CU list, reported per row of `overlap`) and its times. */
export interface CuOverlapResult extends Omit<CuOverlapOptions, 'overlapCus' | 'overlapCusField'> {
  hw: string;
  allreduce_bytes: number;
  gemm_us: number;
  allreduce_us: number;
  sequential_us: number;
  ideal_us: number;
  ideal_speedup: number;
  overlap: Array<{ cus: number; time_us: number; speedup: number; gemm_us: number; allreduce_alone_us: number }>;
}

/** Row blocks of M, as even as whole rows allow. */
function rowBlocks(m: number, chunks: number): number[] {
  return Array.from({ length: chunks }, (_, i) => Math.floor(((i + 1) * m) / chunks) - Math.floor((i * m) / chunks)).filter((r) => r > 0);
}

/** Flows share by isolated rate (see dma.ts isolatedRate): a kernel's is 1 / its isolated time. */
function weightOf(gpu: Gpu, kernel: KernelCost, set: CuSet): number {
  return 1 / gpu.timing(kernel, set).isolatedNs;
}

function gemmAloneNs(hw: HardwareConfig, o: CuOverlapOptions): number {
  const system = new System(hw, o.gpus);
  const kernel = gemmCost(hw, { m: o.m, n: o.n, k: o.k, dtype: o.dtype, name: 'producer_gemm' });
  let end = 0;
  for (const gpu of system.gpus) gpu.launch(kernel, { onComplete: (r) => (end = Math.max(end, r.endNs)) });
  system.sim.run();
  return end;
}

function overlappedNs(hw: HardwareConfig, o: CuOverlapOptions, cus: number): { endNs: number; gemmEndNs: number } {
  const system = new System(hw, o.gpus);
  const layout = system.gpus[0]!.layout;
  const gemmSet = cuRange(layout, cus, layout.cus - cus);
  const blocks = rowBlocks(o.m, o.chunks);
  const ranks = system.gpus.map((g) => g.index);
  const bytesPerRow = o.n * DTYPE_BYTES[o.dtype];
  const doneOnGpus = new Array<number>(blocks.length).fill(0);
  const commQueue: number[] = [];
  let commBusy = false;
  let endNs = 0;
  let gemmEndNs = 0;
  const pump = () => {
    if (commBusy || commQueue.length === 0) return;
    const b = commQueue.shift()!;
    commBusy = true;
    startCollective(system, { kind: 'all-reduce', bytes: blocks[b]! * bytesPerRow, ranks, cus, algo: 'ring', name: `allreduce${b}` }, (r) => {
      commBusy = false;
      endNs = Math.max(endNs, r.endNs);
      pump();
    });
  };
  for (const gpu of system.gpus) {
    const stream = new Stream(gpu, 'gemm', gemmSet);
    blocks.forEach((rows, b) => {
      const kernel = gemmCost(hw, { m: rows, n: o.n, k: o.k, dtype: o.dtype, name: `producer_gemm${b}` }, gemmSet);
      stream.enqueue(kernel, {
        weight: weightOf(gpu, kernel, gemmSet),
        onComplete: (r) => {
          gemmEndNs = Math.max(gemmEndNs, r.endNs);
          if (++doneOnGpus[b]! === o.gpus) {
            commQueue.push(b);
            pump();
          }
        },
      });
    });
  }
  system.sim.run();
  return { endNs, gemmEndNs };
}

export function runCuOverlap(hw: HardwareConfig, o: CuOverlapOptions): CuOverlapResult {
  if (o.gpus < 2) throw new SilicaError('cu-overlap: expected --gpus of at least 2 (a tensor-parallel group)');
  for (const c of o.overlapCus) {
    if (c >= hw.compute.cus) throw new SilicaError(`${o.overlapCusField ?? '--overlap-cus'}: expected fewer than the part's ${hw.compute.cus} CUs, got ${c}`);
  }
  const bytes = o.m * o.n * DTYPE_BYTES[o.dtype];
  const gemmNs = gemmAloneNs(hw, o);
  const arNs = simulateCollective(hw, o.gpus, { kind: 'all-reduce', bytes, algo: 'ring' }).timeNs;
  const sequentialNs = gemmNs + arNs;
  const idealNs = Math.max(gemmNs, arNs);
  return {
    hw: hw.name,
    gpus: o.gpus,
    m: o.m,
    n: o.n,
    k: o.k,
    dtype: o.dtype,
    chunks: o.chunks,
    allreduce_bytes: bytes,
    gemm_us: gemmNs / 1000,
    allreduce_us: arNs / 1000,
    sequential_us: sequentialNs / 1000,
    ideal_us: idealNs / 1000,
    ideal_speedup: sequentialNs / idealNs,
    overlap: o.overlapCus.map((cus) => {
      const run = overlappedNs(hw, o, cus);
      const alone = simulateCollective(hw, o.gpus, { kind: 'all-reduce', bytes, algo: 'ring', cus }).timeNs;
      return { cus, time_us: run.endNs / 1000, speedup: sequentialNs / run.endNs, gemm_us: run.gemmEndNs / 1000, allreduce_alone_us: alone / 1000 };
    }),
  };
}
