import { z } from 'zod';
import { SilicaError } from '../../core/errors.js';
import { MAX_SIMULATED_GPUS } from '../../hw/system.js';
import { getModel, precisionPlan, type Precision } from '../../sw/index.js';
import { sequenceParallelProblem, tpSplitProblem } from '../../sw/graph/shard.js';
import { trainingMemory, type TrainingMemory } from '../../sw/train/memory.js';
import { OPTIMIZER_IMPLS, ZERO_STAGES } from '../../sw/train/optimizer.js';
import { DEFAULT_BUCKET_MIB } from '../../sw/train/buckets.js';

/**
 * One BERT training configuration: what `silica bert` takes and what each point of the `bert`
 * experiment is. Precision labels fold the half dtype of mixed precision into one axis value
 * (`mixed-fp16`, `mixed-bf16`) so a study can vary it like any other axis.
 */
export const PRECISION_LABELS = ['fp32', 'mixed-fp16', 'mixed-bf16', 'fp16', 'bf16'] as const;
export type PrecisionLabel = (typeof PRECISION_LABELS)[number];

const count = z.number().int().positive();

export const bertPointSchema = z
  .object({
    model: z.string().default('bert-large'),
    seq: count.default(128),
    /** Sequences per micro-batch on each GPU. */
    batch: count.default(32),
    precision: z.enum(PRECISION_LABELS).default('mixed-fp16'),
    optimizer: z.enum(['adam', 'lamb']).default('lamb'),
    /** fused: one multi-tensor kernel per stage and layer; per-tensor: PyTorch's for-loop AdamW (adam only). */
    optimizer_impl: z.enum(OPTIMIZER_IMPLS).default('fused'),
    /** Micro-batches per optimizer step (gradient accumulation). */
    micro_batches: count.default(1),
    /**
     * Tensor-parallel GPUs (Megatron: attention heads and FFN columns split, an all-reduce after
     * each block in forward and before it in backward), innermost: a TP group's GPUs are adjacent,
     * in one node where it fits; the data-parallel groups stride across them.
     */
    tp: count.default(1),
    /** Megatron's sequence parallelism over the TP group: norms, dropouts and residuals on 1/tp of the tokens, all-gather + reduce-scatter for each all-reduce (tp > 1). */
    sequence_parallel: z.boolean().default(false),
    /**
     * Data-parallel ranks, each of `tp` GPUs; more GPUs than a node's span nodes. Bounded because
     * every rank of the gradient all-reduce is simulated (MAX_SIMULATED_GPUS, tp x dp in all).
     */
    dp: count.max(MAX_SIMULATED_GPUS, { message: `expected at most ${MAX_SIMULATED_GPUS} data-parallel GPUs (every rank of the all-reduce is simulated)` }).default(1),
    /** All-reduce gradient buckets during backward (true) or after it (false). */
    overlap: z.boolean().default(true),
    /** ZeRO stage: 0 none, 1 optimizer states sharded over the data-parallel ranks, 2 gradients too, 3 weights too (adam, fused). */
    zero_stage: z.number().refine((v) => (ZERO_STAGES as readonly number[]).includes(v), { message: `expected one of ${ZERO_STAGES.join(', ')}` }).default(0),
    /** Gradient bucket size in MiB (PyTorch DDP's bucket_cap_mb): one all-reduce per bucket, each as soon as its gradients exist. */
    bucket_mb: z.number().positive().default(DEFAULT_BUCKET_MIB),
    /** Recompute in backward: false, true (each layer's whole forward) or selective (core attention only; Korthikanti et al. 2023). */
    recompute: z.union([z.boolean(), z.literal('selective')]).default(false),
    /** Fused (flash) attention instead of batched GEMMs, softmax and dropout. */
    flash_attention: z.boolean().default(false),
    /** Bias+GeLU and bias+dropout+residual as one kernel each, a lone bias in its GEMM's epilogue (NVIDIA's and Megatron's BERT); false: every element-wise op its own kernel. */
    fuse_bias_act: z.boolean().default(true),
    /** Hardware preset name or path to a hardware YAML. */
    hw: z.string().default('mi300x'),
  })
  .strict();

export type BertPoint = z.infer<typeof bertPointSchema>;

export function precisionOf(label: PrecisionLabel): { precision: Precision; mixedDtype: 'fp16' | 'bf16' } {
  if (label === 'mixed-fp16') return { precision: 'mixed', mixedDtype: 'fp16' };
  if (label === 'mixed-bf16') return { precision: 'mixed', mixedDtype: 'bf16' };
  return { precision: label, mixedDtype: 'fp16' };
}

/** What one GPU holds for the configuration's step: model states and one micro-batch's activations. */
export function pointMemory(p: BertPoint): TrainingMemory {
  const { precision, mixedDtype } = precisionOf(p.precision);
  return trainingMemory(getModel(p.model), { batch: p.batch, seq: p.seq, plan: precisionPlan(precision, mixedDtype), recompute: p.recompute, flashAttention: p.flash_attention, dp: p.dp, zeroStage: p.zero_stage, tp: p.tp, sequenceParallel: p.sequence_parallel });
}

export function precisionLabel(precision: string, mixedDtype?: string): PrecisionLabel {
  if (mixedDtype !== undefined && mixedDtype !== 'fp16' && mixedDtype !== 'bf16') throw new SilicaError(`--mixed-dtype: expected fp16 or bf16, got "${mixedDtype}"`);
  const label = precision === 'mixed' ? `mixed-${mixedDtype ?? 'fp16'}` : precision;
  if (!(PRECISION_LABELS as readonly string[]).includes(label)) throw new SilicaError(`--precision: expected fp32, mixed, mixed-fp16, mixed-bf16, fp16 or bf16 (mixed's half dtype is --mixed-dtype, fp16 by default), got "${precision}"`);
  // A label that names its own half dtype, or no mixed precision at all, leaves nothing for the flag to choose.
  if (mixedDtype !== undefined && precision !== 'mixed') throw new SilicaError(`--mixed-dtype: applies to --precision mixed only, got --precision ${precision}`);
  return label as PrecisionLabel;
}

/** Axis columns every output row carries, in this order. */
export const POINT_COLUMNS = ['model', 'seq', 'batch', 'precision', 'optimizer', 'optimizer_impl', 'micro_batches', 'tp', 'sequence_parallel', 'dp', 'zero_stage', 'overlap', 'bucket_mb', 'recompute', 'flash_attention', 'fuse_bias_act', 'hw'] as const;

/** GPUs one configuration's step runs on: its tensor-parallel groups times its data-parallel ranks. */
export function pointGpus(p: Pick<BertPoint, 'tp' | 'dp'>): number {
  return p.tp * p.dp;
}

/** Why a configuration's parallelism cannot be simulated, or undefined: every GPU of a collective is, up to MAX_SIMULATED_GPUS. */
export function parallelismProblem(p: Pick<BertPoint, 'model' | 'tp' | 'dp'> & { sequence_parallel?: boolean }): { field: 'tp' | 'dp' | 'sequence_parallel'; message: string } | undefined {
  const split = p.tp > 1 ? tpSplitProblem(getModel(p.model), p.tp) : undefined;
  if (split) return { field: 'tp', message: split };
  const sp = p.sequence_parallel ? sequenceParallelProblem(p.tp) : undefined;
  if (sp) return { field: 'sequence_parallel', message: sp };
  if (pointGpus(p) > MAX_SIMULATED_GPUS) return { field: p.tp > 1 ? 'tp' : 'dp', message: `expected at most ${MAX_SIMULATED_GPUS} GPUs in all (every rank of a collective is simulated), got tp ${p.tp} x dp ${p.dp} = ${pointGpus(p)}` };
  return undefined;
}

export function pointColumns(p: BertPoint): Record<string, string | number | boolean> {
  return Object.fromEntries(POINT_COLUMNS.map((c) => [c, p[c]]));
}
