import { SilicaError } from '../../core/errors.js';
import { DTYPE_BYTES } from '../../hw/config/schema.js';
import type { Trace } from '../../trace/types.js';
import type { Pass } from '../../kernels/types.js';
import { buildForwardGraph, trainingHeadRows, type ForwardPlan } from '../graph/build.js';
import { sequenceParallelProblem } from '../graph/shard.js';
import { fuseBiasActivation } from '../graph/fusion.js';
import type { Op } from '../graph/ops.js';
import type { ModelSpec } from '../models/index.js';
import { ProgramEmitter, COMM_STREAM } from '../lower/emit.js';
import { programsFor } from '../lower/groups.js';
import { lowerBackward, lowerForward, type LowerContext, type LoweredNode } from '../lower/kernels.js';
import { DEFAULT_BUCKET_BYTES, type Bucket } from './buckets.js';
import { GradientReduction } from './gradient-reduction.js';
import { gradientPrepKernels, optimizerImplProblem, overflowFlagReductions, optimizerKernels, perTensorAdamKernels, zeroStageProblem, type OptimizerImpl, type ParamGroup, type ZeroStage } from './optimizer.js';
import { precisionPlan, type Precision } from './precision.js';
import { LayerGathers } from './layer-gathers.js';
import { checkPositiveInt } from '../validate.js';

export interface TrainingOptions {
  /** Sequences per micro-batch on each data-parallel rank. */
  batch: number;
  seq: number;
  precision: Precision;
  /** Half-precision dtype of `mixed` (default fp16). */
  mixedDtype?: 'fp16' | 'bf16';
  optimizer?: 'adam' | 'lamb';
  /** How the update is launched (default fused: one multi-tensor kernel per stage and layer). */
  optimizerImpl?: OptimizerImpl;
  /**
   * ZeRO stage (default 0). 1 and 2 shard the optimizer states (2: the gradients too) over the
   * data-parallel ranks: gradients are reduce-scattered instead of all-reduced, each rank updates
   * its 1/dp of every layer, and the updated weights are all-gathered after the optimizer, the same
   * bytes on the wire as the all-reduce (Rajbhandari et al., SC 2020, sec. 7.2.1). With one
   * micro-batch the stages differ in memory only (memory.ts); with gradient accumulation stage 1
   * accumulates whole gradients and reduces them once, stage 2 reduce-scatters every micro-batch.
   * Stage 3 shards the weights too: each layer's are all-gathered before it runs in forward and
   * again in backward, and not after the optimizer (1.5x the all-reduce's bytes, sec. 7.2.2).
   */
  zeroStage?: ZeroStage;
  /** Forward+backward passes per optimizer step (gradient accumulation). */
  microBatches?: number;
  /**
   * Recompute each layer's forward in backward: true (full activation checkpointing) or
   * 'selective' (Korthikanti et al., MLSys 2023: only core attention, the QK^T, softmax, its dropout
   * and the product with V, whose s x s activations dominate the memory at few FLOPs).
   */
  recompute?: boolean | 'selective';
  tp?: number;
  /** Megatron's sequence parallelism over the tensor-parallel ranks (ForwardPlan.sequenceParallel). */
  sequenceParallel?: boolean;
  dp?: number;
  /** Fused (flash) attention instead of batched GEMMs + softmax + dropout (default false). */
  flashAttention?: boolean;
  /** Fused bias+activation and bias+dropout+residual kernels (default true). */
  fuseBiasAct?: boolean;
  /** Data-parallel gradient bucket size (default 25 MiB, PyTorch DDP). */
  bucketBytes?: number;
  /** All-reduce each bucket as soon as its gradients exist (default true) or after the whole backward. */
  overlapGradAllReduce?: boolean;
}

/** Why `model` cannot train on sequences of `seq` tokens (a message without a flag), or undefined. */
export function seqProblem(model: ModelSpec, seq: number): string | undefined {
  return seq > model.maxSeq ? `${model.name} supports at most ${model.maxSeq} positions, got ${seq}` : undefined;
}

/**
 * One training iteration (optimizer step) of one rank: `microBatches` forward and backward passes,
 * the data-parallel gradient all-reduce, gradient unscaling and the optimizer update.
 */
export function buildTrainingTrace(model: ModelSpec, o: TrainingOptions): Trace {
  const batch = checkPositiveInt(o.batch, '--batch');
  const seq = checkPositiveInt(o.seq, '--seq');
  const tooLong = seqProblem(model, seq);
  if (tooLong) throw new SilicaError(`--seq: ${tooLong}`);
  const microBatches = checkPositiveInt(o.microBatches ?? 1, '--micro-batches');
  const tp = checkPositiveInt(o.tp ?? 1, '--tp');
  const dp = checkPositiveInt(o.dp ?? 1, '--dp');
  const bucketBytes = checkPositiveInt(o.bucketBytes ?? DEFAULT_BUCKET_BYTES, '--bucket-bytes');
  const optimizer = o.optimizer ?? 'adam';
  const optimizerImpl = o.optimizerImpl ?? 'fused';
  const implProblem = optimizerImplProblem(optimizer, optimizerImpl);
  if (implProblem) throw new SilicaError(`--optimizer-impl: ${implProblem}`);
  const zeroStage = o.zeroStage ?? 0;
  const zeroProblem = zeroStageProblem(zeroStage, optimizer, optimizerImpl);
  if (zeroProblem) throw new SilicaError(`--zero-stage: ${zeroProblem}`);
  const sequenceParallel = o.sequenceParallel ?? false;
  const spProblem = sequenceParallel ? sequenceParallelProblem(tp) : undefined;
  if (spProblem) throw new SilicaError(`--sequence-parallel: ${spProblem}`);
  const prec = precisionPlan(o.precision, o.mixedDtype ?? 'fp16');
  const flash = o.flashAttention ?? false;
  const fuse = o.fuseBiasAct ?? true;
  const overlap = o.overlapGradAllReduce ?? true;
  const recompute = o.recompute ?? false;

  const plan: ForwardPlan = {
    tp,
    training: true,
    actBytes: DTYPE_BYTES[prec.compute],
    kvCacheBytes: 0,
    groups: [{ count: batch, qLen: seq, kvLen: seq }],
    pagedKvLens: [],
    flash,
    positionRows: seq,
    headRows: trainingHeadRows(model, batch, seq),
    ...(sequenceParallel ? { sequenceParallel } : {}),
  };
  let graph = buildForwardGraph(model, plan);
  if (fuse) graph = fuseBiasActivation(graph);
  const ctx: LowerContext = { dtype: prec.compute, gradDtype: prec.grad, kvDtype: prec.compute };
  const ops = graph.ops.toArray();
  const fwd = ops.map((op) => lowerForward(op, ctx));
  const bwd = ops.map((op) => lowerBackward(op, ctx));
  const numel = new Map(graph.params.map((p) => [p.name, p.numel] as const));
  const layerOps = new Map<number, number[]>();
  ops.forEach((op, i) => layerOps.set(op.layer, [...(layerOps.get(op.layer) ?? []), i]));

  const e = new ProgramEmitter();
  const sharded = dp > 1 && zeroStage > 0;
  // A ZeRO-2 or -3 rank keeps only its shard of the gradients, so every micro-batch's are reduce-
  // scattered as its backward makes them and the reduced shard is added into the stored one
  // (DeepSpeed's stage 2: one reduction per micro-step, then an accumulation into the partition).
  const reduceEveryMicroBatch = sharded && zeroStage >= 2;
  const gradBytes = DTYPE_BYTES[prec.grad];
  const params = graph.params.toArray();
  // ZeRO-3 holds 1/dp of the weights too: each layer's are gathered before it runs (layer-gathers.ts).
  const gathers =
    sharded && zeroStage === 3
      ? new LayerGathers(e, layerWeightBytes(params, DTYPE_BYTES[prec.compute]), model.layers, {
          fwd: ops.filter((_, i) => fwd[i]!.length > 0).map((op) => op.layer),
          bwd: ops.filter((_, i) => bwd[i]!.length > 0).map((op) => op.layer).reverse(),
        })
      : undefined;
  const compute = (n: LoweredNode, pass: Pass, layer: number, suffix: string): number => (gathers ? gathers.emit(n, layer, suffix) : e.emit(n, pass, layer, { suffix }));
  const reduction = dp > 1 ? new GradientReduction(e, { kind: sharded ? 'reduce-scatter' : 'all-reduce', bucketBytes, overlap, gradBytes, params, backward: bwd }) : undefined;
  let buckets: Bucket[] = [];
  for (let mb = 0; mb < microBatches; mb++) {
    const sfx = microBatches > 1 ? `.mb${mb}` : '';
    gathers?.begin('fwd', sfx);
    ops.forEach((op, i) => fwd[i]!.forEach((n) => compute(n, 'fwd', op.layer, sfx)));
    gathers?.begin('bwd', sfx);
    // Stage 0 and 1 reduce the accumulated gradients once, in the last micro-batch's backward.
    const reducing = reduction && (reduceEveryMicroBatch || mb === microBatches - 1) ? reduction : undefined;
    reducing?.begin(reduceEveryMicroBatch ? sfx : '');
    let recomputed = Number.NaN;
    // Elements of each parameter's gradient this micro-batch's backward has written where nothing
    // was stored to add into (see below).
    const freshWrites = new Map<string, number>();
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i]!;
      if (recompute && op.layer >= 0 && op.layer < model.layers && op.layer !== recomputed) {
        recomputed = op.layer;
        for (const j of layerOps.get(op.layer)!) {
          if (recompute === 'selective' && !isCoreAttention(ops[j]!)) continue;
          fwd[j]!.forEach((n) => compute(n, 'bwd', op.layer, `.recompute${sfx}`));
        }
      }
      for (const n of bwd[i]!) {
        const id = compute(n, 'bwd', op.layer, sfx);
        for (const { param, elements } of n.grads ?? []) {
          const whole = numel.get(param)!;
          const added = Math.min(whole, elements ?? Infinity);
          // A gradient is added into what is stored: after the first micro-batch (unless ZeRO-2
          // reduced and dropped it), and where this backward already wrote the same part. Kernels
          // writing disjoint parts of one parameter (a weight and its bias) each write theirs; a
          // second gradient of a part (a tied embedding: the MLM or LM head and the lookup both use
          // the word table) is added to the first, as autograd sums a leaf's incoming gradients.
          const before = freshWrites.get(param) ?? 0;
          const adds = (mb > 0 && !reduceEveryMicroBatch) || before + added > whole;
          if (!adds) freshWrites.set(param, before + added);
          const done = adds ? e.emit(accumulate(param, added, ctx), 'bwd', op.layer, { suffix: sfx }) : id;
          reducing?.written(param, done);
        }
      }
    }
    if (reducing) {
      const issued = reducing.end(e.lastComputeId);
      buckets = issued.map((x) => x.bucket);
      // The first micro-batch's reduce-scatter writes the shard itself; later ones are added into
      // it, which waits for that bucket's reduction (the end of a micro-step waits for its last buckets).
      if (reduceEveryMicroBatch && mb > 0) issued.forEach(({ bucket, id }, i) => e.emit(accumulate(`grads.bucket${i}.shard`, Math.ceil(bucket.bytes / gradBytes / dp), ctx), 'bwd', -1, { suffix: sfx, deps: [id] }));
    }
  }

  // Sequence parallelism leaves each rank the gradients of the norms and row-parallel biases from its
  // 1/tp of the tokens: Megatron sums them over the TP group after backward, one coalesced
  // all-reduce (finalize_model_grads' _allreduce_layernorm_grads), before the optimizer reads them.
  const sequenceSplitGradNumel = params.reduce((s, p) => s + p.sequenceSplitGradNumel, 0);
  if (sequenceSplitGradNumel > 0) {
    const node: LoweredNode = { name: 'grads.sequence_parallel.tp_all_reduce', kind: 'collective', category: 'communication', collective: { kind: 'all-reduce', bytes: sequenceSplitGradNumel * gradBytes, group: 'tp' } };
    e.emit(node, 'bwd', -1);
  }

  // Under ZeRO each rank updates its 1/dp slice of every layer's flattened parameters.
  const shard = (g: ParamGroup): ParamGroup => (sharded ? { ...g, numel: Math.ceil(g.numel / dp) } : g);
  const groups = paramGroups(params).map(shard);
  // Gradient unscaling stays one multi-tensor kernel per layer either way: PyTorch's GradScaler
  // unscales with a foreach kernel whatever the optimizer's own implementation.
  const split = { tp, splitTensors: params.reduce((s, p) => s + p.tpSplitTensors, 0) };
  const update = optimizerImpl === 'per-tensor' ? perTensorAdamKernels(params.map((p) => ({ name: p.name, numel: p.numel, layer: p.layer })), prec) : optimizerKernels(optimizer, groups, prec, split);
  let first = true;
  const flags = overflowFlagReductions(prec, { tp, zeroSharded: sharded }).map((node) => ({ node, layer: -1 }));
  for (const { node, layer } of [...gradientPrepKernels(groups, prec), ...flags, ...update]) {
    e.emit(node, 'opt', layer, first ? { deps: reduction?.issuedIds ?? [] } : {});
    first = false;
  }
  if (sharded && !gathers) {
    // The updated weights, in the dtype the next forward reads, gathered bucket by bucket (ZeRO-3
    // keeps its shard and gathers each layer as the next forward reaches it).
    const lastUpdate = e.lastComputeId;
    const wb = DTYPE_BYTES[prec.compute] / DTYPE_BYTES[prec.grad];
    buckets.forEach((bucket, i) => {
      const node: LoweredNode = { name: `weights.bucket${i}.all_gather`, kind: 'collective', category: 'communication', collective: { kind: 'all-gather', bytes: bucket.bytes * wb, group: 'dp' } };
      e.emit(node, 'opt', -1, { stream: COMM_STREAM, deps: [lastUpdate] });
    });
  }

  const meta = {
    model: model.name,
    phase: 'train',
    batch,
    seq,
    precision: prec.precision,
    dtype: prec.compute,
    optimizer,
    ...(optimizerImpl === 'fused' ? {} : { optimizer_impl: optimizerImpl }),
    ...(zeroStage === 0 ? {} : { zero_stage: zeroStage }),
    micro_batches: microBatches,
    recompute,
    tp,
    ...(sequenceParallel ? { sequence_parallel: true } : {}),
    dp,
    flash_attention: flash,
    fuse_bias_act: fuse,
    bucket_bytes: bucketBytes,
    overlap_grad_allreduce: overlap,
    samples_per_iteration: batch * microBatches * dp,
  };
  return programsFor(e.nodes, e.groupOf, tp, dp, meta);
}

/** Korthikanti et al.'s core attention: the batched products, the scores' softmax and its dropout (none with fused attention). */
function isCoreAttention(op: Op): boolean {
  return op.kind === 'bmm' || ((op.kind === 'softmax' || op.kind === 'pointwise') && op.region === 'attention');
}

/** Gradient accumulation (micro-batch > 0): the new gradient is added into the stored one. */
function accumulate(param: string, numel: number, ctx: LowerContext): LoweredNode {
  const name = `${param}.grad_accumulate`;
  return { name, kind: 'kernel', category: 'elementwise', kernel: { op: 'elementwise', name, elements: numel, inputs: 2, outputs: 1, flopsPerElement: 1, dtype: ctx.gradDtype, category: 'elementwise' } };
}

/** Each layer's weights in bytes of `dtypeBytes` (what a ZeRO-3 gather moves). */
function layerWeightBytes(params: ReadonlyArray<{ numel: number; layer: number }>, dtypeBytes: number): Map<number, number> {
  const bytes = new Map<number, number>();
  for (const p of params) bytes.set(p.layer, (bytes.get(p.layer) ?? 0) + p.numel * dtypeBytes);
  return bytes;
}

/** Parameters grouped by layer (embeddings, each layer, head), the optimizer's launch granularity. */
function paramGroups(params: Array<{ name: string; numel: number; layer: number }>): ParamGroup[] {
  const byLayer = new Map<number, ParamGroup>();
  for (const p of params) {
    const g = byLayer.get(p.layer) ?? { name: p.layer < 0 ? 'embed' : p.layer >= 0 && /^(final|head)/.test(p.name) ? 'head' : `l${p.layer}`, numel: 0, layer: p.layer };
    g.numel += p.numel;
    byLayer.set(p.layer, g);
  }
  return [...byLayer.values()];
}
