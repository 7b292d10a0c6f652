import { SilicaError } from '../../core/errors.js';
import { DTYPE_BYTES } from '../../hw/config/schema.js';
import type { KernelDesc } from '../../kernels/desc.js';
import type { LoweredNode } from '../lower/kernels.js';
import type { PrecisionPlan } from './precision.js';

export const OPTIMIZERS = ['adam', 'lamb'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

/** A group of parameters one multi-tensor-apply launch updates (silica groups by layer). */
export interface ParamGroup {
  name: string;
  numel: number;
  layer: number;
}

function kernel(name: string, numel: number, inputs: number, outputs: number, flopsPerElement: number, plan: PrecisionPlan, extraWriteBytes = 0): LoweredNode {
  const desc: KernelDesc = { op: 'elementwise', name, elements: numel, inputs, outputs, flopsPerElement, dtype: plan.state, category: 'optimizer', ...(extraWriteBytes ? { extraWriteBytes } : {}) };
  return { name, kind: 'kernel', category: 'optimizer', kernel: desc };
}

/**
 * Gradient preparation before the update, one pass over the gradients: mixed precision reads the
 * half gradients and writes fp32 ones (unscaling by the loss scale and checking for inf/NaN when
 * fp16); pure fp16 unscales in place. fp32 and pure bf16 need none.
 */
export function gradientPrepKernels(groups: ParamGroup[], plan: PrecisionPlan): Array<{ node: LoweredNode; layer: number }> {
  if (!plan.masterWeights && !plan.lossScaling) return [];
  const name = plan.lossScaling ? 'grads.unscale' : 'grads.cast';
  const flops = plan.lossScaling ? 2 : 1;
  return groups.map((g) => {
    const desc: KernelDesc = plan.masterWeights
      ? { op: 'elementwise', name: `${g.name}.${name}`, elements: g.numel, inputs: 1, outputs: 0, flopsPerElement: flops, dtype: plan.grad, category: 'optimizer', extraWriteBytes: g.numel * DTYPE_BYTES[plan.state] }
      : { op: 'elementwise', name: `${g.name}.${name}`, elements: g.numel, inputs: 1, outputs: 1, flopsPerElement: flops, dtype: plan.grad, category: 'optimizer' };
    return { node: { name: desc.name, kind: 'kernel' as const, category: 'optimizer' as const, kernel: desc }, layer: g.layer };
  });
}

/**
 * Optimizer update kernels, stage by stage over all groups (fused multi-tensor kernels as in Apex).
 * Adam (Kingma & Ba 2015): read p, g, m, v; write p, m, v; ~14 FLOPs per element (two moment
 * updates, bias corrections, sqrt, divide, weight decay).
 * LAMB (You et al., ICLR 2020; NVIDIA's FusedLAMB): a global gradient-norm reduction, stage 1 (the
 * Adam-style update u written out), per-tensor norms of p and u (the trust ratio), stage 2 (p -= lr
 * * ratio * u). With master weights the final stage also writes the half-precision weight copy.
 */
export function optimizerKernels(kind: string, groups: ParamGroup[], plan: PrecisionPlan): Array<{ node: LoweredNode; layer: number }> {
  if (!(OPTIMIZERS as readonly string[]).includes(kind)) throw new SilicaError(`--optimizer: expected one of ${OPTIMIZERS.join(', ')}, got "${kind}"`);
  const halfCopy = (numel: number) => (plan.masterWeights ? numel * DTYPE_BYTES[plan.compute] : 0);
  const out: Array<{ node: LoweredNode; layer: number }> = [];
  const stage = (suffix: string, inputs: number, outputs: number, flops: number, copy: boolean) => {
    for (const g of groups) out.push({ node: kernel(`${g.name}.${suffix}`, g.numel, inputs, outputs, flops, plan, copy ? halfCopy(g.numel) : 0), layer: g.layer });
  };
  if (kind === 'adam') {
    stage('adam', 4, 3, 14, true);
  } else {
    stage('lamb.grad_norm', 1, 0, 2, false);
    stage('lamb.stage1', 4, 3, 16, false);
    stage('lamb.norms', 2, 0, 4, false);
    stage('lamb.stage2', 2, 1, 3, true);
  }
  return out;
}
