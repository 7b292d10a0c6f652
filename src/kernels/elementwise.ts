import { SilicaError } from '../core/errors.js';
import { formatBytes, parseBytes } from '../core/units.js';
import { DTYPE_BYTES, type Dtype, type HardwareConfig } from '../hw/config/schema.js';
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
  // The fullest workgroup's share, as its FLOPs are: with the bytes averaged over the grid, a
  // 4097-element array moved half a workgroup's bytes per workgroup and ran faster than 4096.
  const fullestBytes = ((read + write) * perWg) / s.elements;
  return {
    name: s.name,
    category: s.category ?? 'elementwise',
    workgroups,
    perWorkgroup: {
      matrixFlops: 0,
      vectorFlops: perWg * s.flopsPerElement,
      cuBytes: fullestBytes,
      dramBytes: fullestBytes,
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
const STREAM_OPS: Record<StreamOp, { inputs: number; flops: number }> = {
  copy: { inputs: 1, flops: 0 },
  scale: { inputs: 1, flops: 1 },
  add: { inputs: 2, flops: 1 },
  triad: { inputs: 2, flops: 2 },
};

export const STREAM_OP_NAMES = Object.keys(STREAM_OPS) as StreamOp[];

export function streamCost(op: StreamOp, arrayBytes: number): KernelCost {
  const elements = Math.ceil(arrayBytes / 8);
  const { inputs, flops } = STREAM_OPS[op];
  return elementwiseCost({ name: `stream_${op}`, elements, inputs, outputs: 1, flopsPerElement: flops, dtype: 'fp32', bytesPerElement: 8, category: 'memcpy' });
}

/**
 * The size of each array of a STREAM kernel, from a size given by the user (`field` names it in
 * errors): positive, and with the kernel's arrays (its inputs and its output) fitting in the
 * GPU's HBM, as they must on the real part.
 */
export function streamArrayBytes(hw: HardwareConfig, op: StreamOp, size: string | number, field: string): number {
  const arrayBytes = parseBytes(size, field);
  if (arrayBytes <= 0) throw new SilicaError(`${field}: expected a positive size, got ${JSON.stringify(size)}`);
  // BabelStream's arrays hold fp64 elements: a size between two was rounded up unannounced.
  if (arrayBytes % 8 !== 0) throw new SilicaError(`${field}: expected a whole number of 8-byte (fp64) elements, got ${JSON.stringify(size)} (${arrayBytes} bytes)`);
  const arrays = STREAM_OPS[op].inputs + 1;
  const capacity = hw.memory.hbm.capacity_bytes;
  if (arrays * arrayBytes > capacity) {
    throw new SilicaError(`${field}: expected ${arrays} arrays (${op}) to fit in ${hw.name}'s ${formatBytes(capacity)} of HBM, got ${arrays} x ${formatBytes(arrayBytes)}`);
  }
  return arrayBytes;
}

export function memcpyCost(bytes: number, name = 'memcpy'): KernelCost {
  return elementwiseCost({ name, elements: bytes, inputs: 1, outputs: 1, flopsPerElement: 0, dtype: 'fp8', bytesPerElement: 1, category: 'memcpy' });
}
