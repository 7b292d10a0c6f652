import { SilicaError } from '../../core/errors.js';
import { DTYPE_BYTES, DTYPES, type Dtype } from '../../hw/config/schema.js';
import type { Trace } from '../../trace/types.js';
import { buildForwardGraph, type AttentionGroup, type ForwardPlan } from '../graph/build.js';
import type { ModelSpec } from '../models/index.js';
import { ProgramEmitter } from '../lower/emit.js';
import { programsFor } from '../lower/groups.js';
import { lowerForward, type LowerContext } from '../lower/kernels.js';
import { checkNonNegativeInt, checkNonNegativeIntAt, checkPositiveInt, checkPositiveIntAt } from '../validate.js';

export interface IterationOptions {
  /** Prefill chunks: `tokens` new prompt tokens of a request whose first `context` tokens are already cached. */
  prefill: Array<{ tokens: number; context: number }>;
  /** Decode requests: the context (cached tokens) of each; each adds one token. */
  decode: number[];
  tp?: number;
  dtype?: Dtype;
  kvDtype?: Dtype;
  /** Fused attention (default true); false lowers prefill attention to batched GEMMs + softmax. */
  flashAttention?: boolean;
}

export interface PrefillOptions {
  batch: number;
  seq: number;
  tp?: number;
  dtype?: Dtype;
  kvDtype?: Dtype;
  flashAttention?: boolean;
}

export interface DecodeOptions {
  batch: number;
  /** Cached tokens of every request, or of each request. */
  context: number | number[];
  tp?: number;
  dtype?: Dtype;
  kvDtype?: Dtype;
}

function checkDtype(d: string | undefined, field: string, fallback: Dtype): Dtype {
  const v = d ?? fallback;
  if (!(DTYPES as readonly string[]).includes(v)) throw new SilicaError(`${field}: expected one of ${DTYPES.join(', ')}, got "${v}"`);
  return v as Dtype;
}

/**
 * One serving iteration (a forward pass over a mixed batch, as vLLM / Sarathi run it): every token
 * of every prefill chunk and one token per decode request go through the GEMMs together; attention
 * runs per sequence shape (identical prefill chunks share a launch; decode requests with equal
 * contexts share a flash-decoding launch, unequal ones one paged-attention launch); new K and V are
 * written to the cache; the output layer runs on the last token of each sequence.
 */
export function buildIterationTrace(model: ModelSpec, o: IterationOptions): Trace {
  const tp = checkPositiveInt(o.tp ?? 1, '--tp');
  const dtype = checkDtype(o.dtype, '--dtype', 'bf16');
  const kvDtype = checkDtype(o.kvDtype, '--kv-dtype', dtype);
  const flash = o.flashAttention ?? true;
  if (o.decode.length > 0 && !model.causal) throw new SilicaError(`--phase decode: ${model.name} is an encoder (not causal) and has no decode phase`);
  const byShape = new Map<string, AttentionGroup>();
  for (let i = 0; i < o.prefill.length; i++) {
    const p = o.prefill[i]!;
    checkPositiveIntAt(p.tokens, 'prefill', i, '.tokens');
    checkNonNegativeIntAt(p.context, 'prefill', i, '.context');
    if (p.context + p.tokens > model.maxSeq) throw new SilicaError(`prefill[${i}]: ${p.context + p.tokens} positions exceed ${model.name}'s ${model.maxSeq}`);
    if (p.context > 0 && !model.causal) throw new SilicaError(`prefill[${i}].context: ${model.name} is an encoder; chunked prefill needs a causal model`);
    const key = `${p.tokens}/${p.context}`;
    const g = byShape.get(key);
    byShape.set(key, { count: (g?.count ?? 0) + 1, qLen: p.tokens, kvLen: p.context + p.tokens });
  }
  const groups = [...byShape.values()];
  for (let i = 0; i < o.decode.length; i++) {
    const c = checkNonNegativeIntAt(o.decode[i], '--context', i);
    if (c + 1 > model.maxSeq) throw new SilicaError(`--context: ${c + 1} positions exceed ${model.name}'s ${model.maxSeq}`);
  }
  let paged: number[] = [];
  if (o.decode.length > 0) {
    const uniform = o.decode.every((c) => c === o.decode[0]);
    if (uniform && kvDtype === dtype) groups.push({ count: o.decode.length, qLen: 1, kvLen: o.decode[0]! + 1 });
    else paged = o.decode.map((c) => c + 1);
  }
  if (groups.length === 0 && paged.length === 0) throw new SilicaError('iteration: expected at least one prefill chunk or decode request');

  const plan: ForwardPlan = {
    tp,
    training: false,
    actBytes: DTYPE_BYTES[dtype],
    kvCacheBytes: model.causal ? DTYPE_BYTES[kvDtype] : 0,
    groups,
    pagedKvLens: paged,
    flash,
    positionRows: 0,
    headRows: o.prefill.length + o.decode.length,
  };
  const graph = buildForwardGraph(model, plan);
  const ctx: LowerContext = { dtype, gradDtype: dtype, kvDtype };
  const e = new ProgramEmitter();
  for (const op of graph.ops) for (const n of lowerForward(op, ctx)) e.emit(n, 'fwd', op.layer);
  const meta = {
    model: model.name,
    phase: o.prefill.length && o.decode.length ? 'iteration' : o.prefill.length ? 'prefill' : 'decode',
    tp,
    dtype,
    kv_dtype: kvDtype,
    flash_attention: flash,
    prefill_chunks: o.prefill.length,
    prefill_tokens: o.prefill.reduce((s, p) => s + p.tokens, 0),
    decode_requests: o.decode.length,
  };
  return programsFor(e.nodes, e.groupOf, tp, 1, meta);
}

/** Prefill of `batch` prompts of `seq` tokens each (no cached context). */
export function buildPrefillTrace(model: ModelSpec, o: PrefillOptions): Trace {
  const batch = checkPositiveInt(o.batch, '--batch');
  const seq = checkPositiveInt(o.seq, '--seq');
  const t = buildIterationTrace(model, { prefill: Array.from({ length: batch }, () => ({ tokens: seq, context: 0 })), decode: [], tp: o.tp, dtype: o.dtype, kvDtype: o.kvDtype, flashAttention: o.flashAttention });
  Object.assign(t.meta, { batch, seq });
  return t;
}

/** One decode step of `batch` requests (each generates one token). */
export function buildDecodeTrace(model: ModelSpec, o: DecodeOptions): Trace {
  const batch = checkPositiveInt(o.batch, '--batch');
  const contexts = Array.isArray(o.context) ? o.context : Array.from({ length: batch }, () => o.context as number);
  if (contexts.length !== batch) throw new SilicaError(`--context: expected one context per request (${batch}), got ${contexts.length}`);
  const t = buildIterationTrace(model, { prefill: [], decode: contexts, tp: o.tp, dtype: o.dtype, kvDtype: o.kvDtype });
  Object.assign(t.meta, { batch, context: Array.isArray(o.context) ? contexts.join(',') : o.context });
  return t;
}
