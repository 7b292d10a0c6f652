import { SilicaError } from '../core/errors.js';
import type { Dtype, HardwareConfig } from '../hw/config/schema.js';
import type { CuSet } from '../hw/gpu/cu-mask.js';
import { flashAttentionCost, type AttentionShape } from './attention.js';
import { elementwiseCost, memcpyCost, type ElementwiseShape } from './elementwise.js';
import { gemmCost, type GemmShape } from './gemm.js';
import { rowReductionCost, type RowReductionShape } from './reduction.js';
import type { KernelCost, OpCategory } from './types.js';

/**
 * Hardware-independent kernel descriptions: what a trace stores and what lowering produces. The
 * cost-model registry below turns a description into a KernelCost for a given part (tile choice,
 * cache reuse and split-K depend on the hardware, so they are decided at replay, not at emit).
 *
 * A new kernel model is one entry in KERNEL_MODELS plus its `op` in the KernelDesc union (then its fields' rules in
 * src/trace/kernel-fields.ts, and a message in src/trace/silica.proto for traces to carry it).
 */
export type KernelDesc =
  | ({ op: 'gemm' } & GemmShape)
  | ({ op: 'elementwise' } & ElementwiseShape)
  | ({ op: 'reduction' } & RowReductionShape)
  | ({ op: 'attention' } & AttentionShape)
  | { op: 'memcpy'; name?: string; bytes: number; category?: OpCategory }
  /** Opaque compute (e.g. a Chakra COMP node): FLOPs and bytes only, a roofline kernel. */
  | { op: 'generic'; name: string; flops: number; bytesRead: number; bytesWritten: number; dtype: Dtype; category?: OpCategory; matrix?: boolean };

type ModelFn<D> = (hw: HardwareConfig, desc: D, cus?: CuSet) => KernelCost;

const KERNEL_MODELS: { [K in KernelDesc['op']]: ModelFn<Extract<KernelDesc, { op: K }>> } = {
  gemm: (hw, d, cus) => gemmCost(hw, d, cus),
  elementwise: (_hw, d) => elementwiseCost(d),
  reduction: (_hw, d) => rowReductionCost(d),
  attention: (_hw, d) => flashAttentionCost(d),
  memcpy: (_hw, d) => ({ ...memcpyCost(d.bytes, d.name ?? 'memcpy'), category: d.category ?? 'memcpy' }),
  generic: (hw, d) => genericCost(hw, d),
};

/** The ops that have a cost model (test/hw/kernel-models.test.ts holds each to the roofline). */
export function kernelOps(): string[] {
  return Object.keys(KERNEL_MODELS).sort();
}

export function costKernel(hw: HardwareConfig, desc: KernelDesc, cus?: CuSet): KernelCost {
  const model = KERNEL_MODELS[desc.op] as ModelFn<KernelDesc> | undefined;
  if (!model) throw new SilicaError(`kernel op "${(desc as { op: string }).op}": no cost model registered`);
  return model(hw, desc, cus);
}

/** Work spread over one workgroup per CU: a roofline kernel when only totals are known. */
function genericCost(hw: HardwareConfig, d: Extract<KernelDesc, { op: 'generic' }>): KernelCost {
  const workgroups = hw.compute.cus;
  return {
    name: d.name,
    category: d.category ?? (d.matrix ? 'gemm' : 'elementwise'),
    workgroups,
    perWorkgroup: {
      matrixFlops: d.matrix ? d.flops / workgroups : 0,
      vectorFlops: d.matrix ? 0 : d.flops / workgroups,
      cuBytes: (d.bytesRead + d.bytesWritten) / workgroups,
    },
    dtype: d.dtype,
    flops: d.flops,
    hbmReadBytes: d.bytesRead,
    hbmWriteBytes: d.bytesWritten,
  };
}
