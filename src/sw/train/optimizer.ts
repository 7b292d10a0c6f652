import { SilicaError } from '../../core/errors.js';
import { DTYPE_BYTES } from '../../hw/config/schema.js';
import type { KernelDesc } from '../../kernels/desc.js';
import type { LoweredNode } from '../lower/kernels.js';
import type { PrecisionPlan } from './precision.js';

export const OPTIMIZERS = ['adam', 'lamb'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

/**
 * How the update is launched: `fused`, one multi-tensor kernel per stage and layer (Apex's
 * FusedAdam and FusedLAMB, PyTorch's fused AdamW); `per-tensor`, PyTorch's for-loop AdamW
 * (foreach=False), every element-wise op of the update its own kernel for every parameter tensor.
 */
export const OPTIMIZER_IMPLS = ['fused', 'per-tensor'] as const;
export type OptimizerImpl = (typeof OPTIMIZER_IMPLS)[number];

/** The one-line reason a configuration cannot run `impl` with `kind`, or undefined. */
export function optimizerImplProblem(kind: string, impl: string): string | undefined {
  if (!(OPTIMIZER_IMPLS as readonly string[]).includes(impl)) return `expected one of ${OPTIMIZER_IMPLS.join(', ')}, got "${impl}"`;
  if (impl === 'per-tensor' && kind !== 'adam') return `per-tensor is PyTorch's for-loop AdamW: expected the adam optimizer, got ${kind} (LAMB runs as NVIDIA's fused kernel only)`;
  return undefined;
}

/** ZeRO stages silica models (Rajbhandari et al., SC 2020): 0 none, 1 optimizer states sharded, 2 gradients too, 3 weights too. */
export const ZERO_STAGES = [0, 1, 2, 3] as const;
export type ZeroStage = (typeof ZERO_STAGES)[number];

/** The one-line reason a configuration cannot run ZeRO stage `stage`, or undefined. */
export function zeroStageProblem(stage: number, kind: string, impl: string): string | undefined {
  if (!(ZERO_STAGES as readonly number[]).includes(stage)) return `expected one of ${ZERO_STAGES.join(', ')}, got ${JSON.stringify(stage)}`;
  if (stage === 0) return undefined;
  // Each rank updates a flat slice of every tensor: LAMB's per-tensor trust ratio needs whole tensors.
  if (kind !== 'adam') return `ZeRO shards each tensor across ranks: expected the adam optimizer, got ${kind} (LAMB's per-tensor trust ratio needs whole tensors)`;
  if (impl !== 'fused') return `ZeRO updates a flat shard with one fused kernel: expected optimizer_impl fused, got ${impl}`;
  return undefined;
}

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
 * The all-reduces of the inf/NaN flag that loss scaling needs when ranks check different gradients:
 * each rank's unscale kernels see only its shard, and a step must be skipped on every rank or on
 * none. Megatron all-reduces `found_inf` (MAX, one fp32) over the model-parallel group with TP, and
 * DeepSpeed's ZeRO optimizer its overflow flag over the data-parallel group when it shards the
 * gradients; plain DDP needs none (every rank holds the same all-reduced gradients). They run after
 * the unscale kernels and before the update, which is conditional on them.
 */
export function overflowFlagReductions(plan: PrecisionPlan, split: { tp: number; zeroSharded: boolean }): LoweredNode[] {
  if (!plan.lossScaling) return [];
  const flag = (group: 'tp' | 'dp'): LoweredNode => ({ name: `grads.found_inf.${group}_all_reduce`, kind: 'collective', category: 'communication', collective: { kind: 'all-reduce', bytes: OVERFLOW_FLAG_BYTES, group } });
  return [...(split.tp > 1 ? [flag('tp')] : []), ...(split.zeroSharded ? [flag('dp')] : [])];
}

/** The overflow flag as the frameworks exchange it (a one-element fp32 tensor). */
const OVERFLOW_FLAG_BYTES = 4;

/** Bytes of one norm's partial sum of squares as the ranks exchange it (fp32, as FusedLAMB accumulates it). */
const NORM_PARTIAL_BYTES = 4;

/** What the tensor-parallel group shares of the parameters: its size and the tensors it splits. */
export interface TpSplit {
  tp: number;
  /** Framework tensors split over the group (ParamTensor.tpSplitTensors, summed over the parameters). */
  splitTensors: number;
}

/**
 * The all-reduces over the tensor-parallel group that LAMB's norms need when tensors are split
 * (none with tp 1): each rank's sums of squares cover its shard only, so the global gradient norm
 * (one fp32, as Megatron's clip_grad_norm_fp32 all-reduces it over the model-parallel group) and
 * the per-tensor norms of the weights and of the update (two fp32 per split tensor, one all-reduce
 * of the vector) are summed over the group before the stage that uses them. Replicated tensors'
 * norms are whole on every rank and stay out of the vector (and out of the global sum on all ranks
 * but one, as Megatron leaves tensor-parallel duplicates out). Latency-bound: a few bytes each.
 */
export function lambNormReductions(split: TpSplit): { gradNorm?: LoweredNode; tensorNorms?: LoweredNode } {
  if (split.tp <= 1 || split.splitTensors <= 0) return {};
  const allReduce = (name: string, bytes: number): LoweredNode => ({ name, kind: 'collective', category: 'communication', collective: { kind: 'all-reduce', bytes, group: 'tp' } });
  return {
    gradNorm: allReduce('lamb.grad_norm.tp_all_reduce', NORM_PARTIAL_BYTES),
    tensorNorms: allReduce('lamb.norms.tp_all_reduce', 2 * split.splitTensors * NORM_PARTIAL_BYTES),
  };
}

/**
 * Optimizer update kernels, stage by stage over all groups (fused multi-tensor kernels as in Apex).
 * Adam (Kingma & Ba 2015): read p, g, m, v; write p, m, v; ~14 FLOPs per element (two moment
 * updates, bias corrections, sqrt, divide, weight decay).
 * LAMB (You et al., ICLR 2020; NVIDIA's FusedLAMB): a global gradient-norm reduction, stage 1 (the
 * Adam-style update u written out), per-tensor norms of p and u (the trust ratio), stage 2 (p -= lr
 * * ratio * u). With master weights the final stage also writes the half-precision weight copy.
 * Under tensor parallelism the norms are summed over the group between the stages
 * (lambNormReductions); their nodes carry layer -1.
 */
export function optimizerKernels(kind: string, groups: ParamGroup[], plan: PrecisionPlan, split: TpSplit = { tp: 1, splitTensors: 0 }): Array<{ node: LoweredNode; layer: number }> {
  if (!(OPTIMIZERS as readonly string[]).includes(kind)) throw new SilicaError(`--optimizer: expected one of ${OPTIMIZERS.join(', ')}, got "${kind}"`);
  const halfCopy = (numel: number) => (plan.masterWeights ? numel * DTYPE_BYTES[plan.compute] : 0);
  const out: Array<{ node: LoweredNode; layer: number }> = [];
  const stage = (suffix: string, inputs: number, outputs: number, flops: number, copy: boolean) => {
    for (const g of groups) out.push({ node: kernel(`${g.name}.${suffix}`, g.numel, inputs, outputs, flops, plan, copy ? halfCopy(g.numel) : 0), layer: g.layer });
  };
  if (kind === 'adam') {
    stage('adam', 4, 3, 14, true);
  } else {
    const reduce = lambNormReductions(split);
    stage('lamb.grad_norm', 1, 0, 2, false);
    if (reduce.gradNorm) out.push({ node: reduce.gradNorm, layer: -1 });
    stage('lamb.stage1', 4, 3, 16, false);
    stage('lamb.norms', 2, 0, 4, false);
    if (reduce.tensorNorms) out.push({ node: reduce.tensorNorms, layer: -1 });
    stage('lamb.stage2', 2, 1, 3, true);
  }
  return out;
}

/**
 * PyTorch's for-loop AdamW (torch.optim.AdamW, foreach=False, capturable=False), for each
 * parameter tensor in turn: decoupled weight decay, the two moment updates, the denominator built
 * in a temporary, the update. Each line of the source is one kernel that reads its operands from
 * DRAM and writes its result back:
 *   param.mul_(1 - lr * wd)                          p -> p
 *   exp_avg.lerp_(grad, 1 - beta1)                   m, g -> m
 *   exp_avg_sq.mul_(beta2)                           v -> v
 *   exp_avg_sq.addcmul_(grad, grad, 1 - beta2)       v, g -> v
 *   denom = exp_avg_sq.sqrt()                        v -> d
 *   denom = denom / bias_correction2_sqrt            d -> d
 *   denom.add_(eps)                                  d -> d
 *   param.addcdiv_(exp_avg, denom, -step_size)       p, m, d -> p
 * 14 FLOPs per element in all, the fused kernel's count; with master weights a copy kernel then
 * writes the half-precision weights. The scalars (step size, bias corrections) stay on the host.
 */
export function perTensorAdamKernels(tensors: ParamGroup[], plan: PrecisionPlan): Array<{ node: LoweredNode; layer: number }> {
  const ops: Array<[suffix: string, inputs: number, flops: number]> = [
    ['weight_decay', 1, 1],
    ['exp_avg', 2, 3],
    ['exp_avg_sq.mul', 1, 1],
    ['exp_avg_sq.addcmul', 2, 3],
    ['denom.sqrt', 1, 1],
    ['denom.div', 1, 1],
    ['denom.add_eps', 1, 1],
    ['update', 3, 3],
  ];
  const out: Array<{ node: LoweredNode; layer: number }> = [];
  for (const t of tensors) {
    for (const [suffix, inputs, flops] of ops) out.push({ node: kernel(`${t.name}.adamw.${suffix}`, t.numel, inputs, 1, flops, plan), layer: t.layer });
    if (plan.masterWeights) {
      // param_half.copy_(param): reads the fp32 weights, writes the half copy (no FLOPs).
      const name = `${t.name}.adamw.half_copy`;
      const desc: KernelDesc = { op: 'elementwise', name, elements: t.numel, inputs: 1, outputs: 0, flopsPerElement: 0, dtype: plan.state, category: 'optimizer', extraWriteBytes: t.numel * DTYPE_BYTES[plan.compute] };
      out.push({ node: { name, kind: 'kernel', category: 'optimizer', kernel: desc }, layer: t.layer });
    }
  }
  return out;
}
