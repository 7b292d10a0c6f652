import { DTYPE_BYTES } from '../../hw/config/schema.js';
import { buildForwardGraph, trainingHeadRows } from '../graph/build.js';
import { parameterCount, type ModelSpec } from '../models/index.js';
import type { PrecisionPlan } from './precision.js';

/**
 * What one GPU holds to train a transformer with data parallelism: the model states
 * and the activations kept for the backward pass of one micro-batch. A closed form from published
 * accounting, not an allocator trace: frameworks add workspace, fragmentation and caches on top,
 * so a step that needs more than the HBM cannot run, and one that needs somewhat less may not.
 *
 * - Model states (ZeRO, Rajbhandari et al., SC 2020, sec. 3.1): weights and gradients in their
 *   dtypes, plus Adam's or LAMB's two moments and, in mixed precision, fp32 master weights in the
 *   state dtype: 2 + 2 + 12 = 16 bytes a parameter in mixed precision ("a 1.5B-parameter GPT-2
 *   needs at least 24 GB"); 16 in fp32; 8 in pure fp16/bf16. ZeRO (ibid., fig. 1) divides the
 *   optimizer states (moments and master weights) by the data-parallel degree at stage 1, and the
 *   gradients too at stage 2: 2 + 2 + 12/Nd and 2 + 14/Nd bytes a parameter in mixed precision.
 * - Activations of one layer (Korthikanti et al., "Reducing Activation Recomputation in Large
 *   Transformer Models", MLSys 2023, eq. 1): s·b·h·(34 + 5·a·s/h) bytes with 16-bit tensors and
 *   1-byte dropout masks (two of s·b·h and one of a·s²·b among them). fp32 tensors take twice the
 *   bytes, the masks the same. Fused attention keeps no s x s scores or probabilities (only its
 *   softmax statistics, negligible), nor does selective recomputation (ibid., eq. 2: 34·s·b·h); full
 *   recomputation keeps only each layer's input, 2·s·b·h.
 * - Tensor parallelism over t ranks (Megatron, without sequence parallelism; ibid., eq. 3:
 *   s·b·h·(10 + 24/t + 5·a·s/(h·t))): the weights are the rank's shard (as the graph builder
 *   splits them: vocabulary, heads and FFN columns; norms and row-parallel biases whole), and of
 *   the activations the attention and FFN interiors are split while the layer norms' inputs, the
 *   GEMMs' replicated inputs and the two dropout masks after the blocks (10·s·b·h) are not, unless
 *   sequence parallelism splits those over the tokens too (ibid., eq. 4: s·b·h·(34/t + 5·a·s/(h·t))).
 * - The language-model head's logits, rows·vocab/t in the activation dtype, for the rows the head
 *   runs on as the graph builder lowers it (trainingHeadRows): every token of a causal LM, only
 *   the masked positions of an MLM (BERT gathers its ceil(0.15·s) predictions a sequence before
 *   the head, so logits for the other tokens are never made).
 */
export interface TrainingMemory {
  modelStateBytes: number;
  activationBytes: number;
  totalBytes: number;
}

export interface TrainingMemoryOptions {
  /** Sequences per micro-batch. */
  batch: number;
  seq: number;
  plan: PrecisionPlan;
  /** true: full recomputation; 'selective': core attention only (its s x s activations are not kept). */
  recompute?: boolean | 'selective';
  flashAttention?: boolean;
  /** Data-parallel ranks and ZeRO stage (0, 1 or 2) sharding the model states over them (default 1 and 0). */
  dp?: number;
  zeroStage?: number;
  /** Tensor-parallel ranks (default 1). */
  tp?: number;
  /** Megatron's sequence parallelism over the tensor-parallel ranks (ibid., eq. 4). */
  sequenceParallel?: boolean;
}

/**
 * The parameters one of `tp` tensor-parallel ranks holds, as the graph builder shards them; counted
 * once per model and width (a study asks for every configuration's memory several times).
 */
export function rankParameterCount(model: ModelSpec, tp: number): number {
  if (tp === 1) return parameterCount(model);
  let byTp = rankParams.get(model);
  if (!byTp) rankParams.set(model, (byTp = new Map()));
  let n = byTp.get(tp);
  if (n === undefined) {
    const graph = buildForwardGraph(model, { tp, training: true, actBytes: 2, kvCacheBytes: 0, groups: [{ count: 1, qLen: 1, kvLen: 1 }], pagedKvLens: [], flash: false, positionRows: 1, headRows: 1 });
    byTp.set(tp, (n = graph.params.reduce((s, p) => s + p.numel, 0)));
  }
  return n;
}

const rankParams = new WeakMap<ModelSpec, Map<number, number>>();

export function trainingMemory(model: ModelSpec, o: TrainingMemoryOptions): TrainingMemory {
  const tp = o.tp ?? 1;
  const params = rankParameterCount(model, tp);
  const p = o.plan;
  const stateBytes = DTYPE_BYTES[p.state];
  const stage = o.zeroStage ?? 0;
  const dp = o.dp ?? 1;
  const optimizerStates = (2 * stateBytes + (p.masterWeights ? stateBytes : 0)) / (stage >= 1 ? dp : 1);
  const gradients = DTYPE_BYTES[p.grad] / (stage >= 2 ? dp : 1);
  const weights = DTYPE_BYTES[p.compute] / (stage >= 3 ? dp : 1);
  const modelStateBytes = params * (weights + gradients + optimizerStates);

  const act = DTYPE_BYTES[p.compute];
  const { batch: b, seq: s } = o;
  const h = model.hidden;
  const a = model.heads;
  const sbh = s * b * h;
  // Korthikanti's 16-bit accounting split into tensors (scaled by act / 2) and 1-byte masks: of
  // the 34·s·b·h, 8 of tensors and the 2 of masks stay whole under tensor parallelism (split over
  // the tokens with sequence parallelism), 24 split.
  const whole = o.sequenceParallel && tp > 1 ? 1 / tp : 1;
  const keepsScores = !o.flashAttention && o.recompute !== 'selective';
  const perLayer = o.recompute === true
    ? act * sbh * whole
    : ((act / 2) * 8 * sbh + 2 * sbh) * whole + (act / 2) * (24 / tp) * sbh + (keepsScores ? ((act / 2) * 4 * a * s * s * b + a * s * s * b) / tp : 0);
  const logits = trainingHeadRows(model, b, s) * Math.ceil(model.vocab / tp) * act;
  const activationBytes = model.layers * perLayer + logits;
  return { modelStateBytes, activationBytes, totalBytes: modelStateBytes + activationBytes };
}
