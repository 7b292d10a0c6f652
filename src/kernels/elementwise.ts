import { DTYPE_BYTES, type Dtype } from '../hw/config/schema.js';
import type { KernelCost, OpCategory } from './types.js';

/** Elements one workgroup handles: 256 threads x 16 elements (vectorised loads). */
export const ELEMENTS_PER_WORKGROUP = 4096;

export interface ElementwiseShape {
  name: string;
  elements: number;
  /** Tensors of `elements` read (e.g. 2 for a residual add). */
  inputs: number;
  /** Tensors of `elements` written. */
  outputs: number;
  flopsPerElement: number;
  /** Special-function ops per element (GELU's tanh/erf, exp in a fused softmax...). */
  transcendentalsPerElement?: number;
  dtype: Dtype;
  /** Extra bytes read beyond the element tensors (e.g. a bias vector, a dropout mask). */
  extraReadBytes?: number;
  extraWriteBytes?: number;
  category?: OpCategory;
  /** Bytes per element when different from the dtype (e.g. fp32 optimizer state next to bf16). */
  bytesPerElement?: number;
}

/** Streaming kernels: every byte crosses DRAM once; the arithmetic is almost always hidden. */
export function elementwiseCost(s: ElementwiseShape): KernelCost {
  const b = s.bytesPerElement ?? DTYPE_BYTES[s.dtype];
  const workgroups = Math.max(1, Math.ceil(s.elements / ELEMENTS_PER_WORKGROUP));
  const perWg = Math.min(ELEMENTS_PER_WORKGROUP, s.elements);
  const read = s.elements * b * s.inputs + (s.extraReadBytes ?? 0);
  const write = s.elements * b * s.outputs + (s.extraWriteBytes ?? 0);
  return {
    name: s.name,
    category: s.category ?? 'elementwise',
    workgroups,
    perWorkgroup: {
      matrixFlops: 0,
      vectorFlops: perWg * s.flopsPerElement,
      cuBytes: (read + write) / workgroups,
      transcendentalOps: perWg * (s.transcendentalsPerElement ?? 0),
    },
    dtype: s.dtype,
    flops: s.elements * s.flopsPerElement,
    hbmReadBytes: read,
    hbmWriteBytes: write,
    shape: { elements: s.elements },
  };
}

export type StreamOp = 'copy' | 'scale' | 'add' | 'triad';

/** BabelStream's kernels on arrays of `arrayBytes` each (fp64 in BabelStream; dtype-agnostic here). */
export function streamCost(op: StreamOp, arrayBytes: number): KernelCost {
  const elements = Math.ceil(arrayBytes / 8);
  const spec: Record<StreamOp, { inputs: number; flops: number }> = {
    copy: { inputs: 1, flops: 0 },
    scale: { inputs: 1, flops: 1 },
    add: { inputs: 2, flops: 1 },
    triad: { inputs: 2, flops: 2 },
  };
  const { inputs, flops } = spec[op];
  return elementwiseCost({ name: `stream_${op}`, elements, inputs, outputs: 1, flopsPerElement: flops, dtype: 'fp32', bytesPerElement: 8, category: 'memcpy' });
}

export function memcpyCost(bytes: number, name = 'memcpy'): KernelCost {
  return elementwiseCost({ name, elements: bytes, inputs: 1, outputs: 1, flopsPerElement: 0, dtype: 'fp8', bytesPerElement: 1, category: 'memcpy' });
}
