import { DTYPE_BYTES, type Dtype } from '../hw/config/schema.js';
import type { KernelCost, OpCategory } from './types.js';

export interface RowReductionShape {
  name: string;
  kind: 'softmax' | 'layernorm' | 'rmsnorm';
  rows: number;
  cols: number;
  dtype: Dtype;
  /** Backward kernels read the saved input and the incoming gradient (2 tensors) and write one. */
  backward?: boolean;
}

/** Vector FLOPs per element: softmax (max, sub, exp, sum, scale); layer norm (mean, var, normalise, affine). */
const FLOPS_PER_ELEMENT = { softmax: 5, layernorm: 8, rmsnorm: 5 } as const;

/**
 * Row-wise reductions (softmax, layer norm). One workgroup takes whole rows and keeps them on chip,
 * so each element is read once and written once; parameters (gamma, beta) are negligible but counted.
 */
export function rowReductionCost(s: RowReductionShape): KernelCost {
  const b = DTYPE_BYTES[s.dtype];
  const elements = s.rows * s.cols;
  const rowsPerWg = Math.max(1, Math.floor(4096 / s.cols));
  const workgroups = Math.ceil(s.rows / rowsPerWg);
  const fullestRows = Math.min(rowsPerWg, s.rows);
  const fullest = fullestRows / s.rows;
  const inputs = s.backward ? 2 : 1;
  const paramBytes = s.kind === 'softmax' ? 0 : s.cols * b * (s.kind === 'layernorm' ? 2 : 1);
  const paramWriteBytes = s.backward && s.kind !== 'softmax' ? paramBytes : 0;
  const read = elements * b * inputs + paramBytes;
  const write = elements * b + paramWriteBytes;
  // Every workgroup reads the parameters whole (and a backward one writes their gradient).
  const fullestBytes = fullestRows * s.cols * b * (inputs + 1) + paramBytes + paramWriteBytes;
  const flopsPerElement = FLOPS_PER_ELEMENT[s.kind] * (s.backward ? 2 : 1);
  const category: OpCategory = s.kind === 'softmax' ? 'softmax' : 'layernorm';
  return {
    name: s.name,
    category,
    workgroups,
    // The fullest workgroup's share (whole rows: min(rowsPerWg, rows) of them), the critical path;
    // averaged over the grid, one more row than a multiple of rowsPerWg halved every share.
    perWorkgroup: {
      matrixFlops: 0,
      vectorFlops: elements * fullest * flopsPerElement,
      cuBytes: fullestBytes,
      dramBytes: fullestBytes,
      transcendentalOps: s.kind === 'softmax' ? elements * fullest : s.rows * fullest,
    },
    dtype: s.dtype,
    flops: elements * flopsPerElement,
    hbmReadBytes: read,
    hbmWriteBytes: write,
    shape: { rows: s.rows, cols: s.cols },
  };
}
