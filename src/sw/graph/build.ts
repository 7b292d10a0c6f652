import { List } from 'immutable';
import { SilicaError } from '../../core/errors.js';
import { mlmPredictionsPerSeq, type ModelSpec } from '../models/index.js';
import type { Op, OpGraph, ParamTensor, PointwiseFn } from './ops.js';
import { balancedExpertTokens, rankWidths, type RankWidths } from './shard.js';

/**
 * Builds one rank's forward op graph for one micro-batch (training) or one iteration (inference).
 * Backward and optimizer ops are not separate graph nodes: every forward op knows its backward
 * (src/sw/lower/kernels.ts), which keeps "backward GEMM FLOPs = 2 x forward" true by construction.
 */
export interface AttentionGroup {
  /** Sequences with this shape. */
  count: number;
  /** New tokens of each sequence (queries). */
  qLen: number;
  /** Keys each query row sees at most (context + new tokens). */
  kvLen: number;
}

export interface ForwardPlan {
  tp: number;
  training: boolean;
  /** Bytes per activation element (the compute dtype). */
  actBytes: number;
  /** Bytes per KV-cache element (inference; 0 = no cache writes). */
  kvCacheBytes: number;
  /** Sequences through attention, grouped by shape (prefill chunks, training sequences, uniform decode). */
  groups: readonly AttentionGroup[];
  /** Decode requests with differing contexts: keys each attends (one paged-attention launch). */
  pagedKvLens: readonly number[];
  flash: boolean;
  /** Sequence length for the learned position table's gradient (training). */
  positionRows: number;
  /** Rows the output layer runs on (every token for causal training, masked ones for MLM, one per sequence in inference). */
  headRows: number;
  /**
   * Megatron's sequence parallelism (Korthikanti et al., MLSys 2023, sec. 4.2.2), with tp > 1:
   * the layer norms, dropouts and residual adds between the tensor-parallel regions run on 1/tp of
   * the tokens, and each region is entered by an all-gather and left by a reduce-scatter.
   */
  sequenceParallel?: boolean;
}

export function tokensOf(plan: ForwardPlan): number {
  return plan.groups.reduce((s, g) => s + g.count * g.qLen, 0) + plan.pagedKvLens.length;
}

/** Output-layer rows for training: every token (causal LM) or the masked positions (MLM). */
export function trainingHeadRows(m: ModelSpec, batch: number, seq: number): number {
  return m.objective === 'mlm' ? batch * mlmPredictionsPerSeq(seq) : batch * seq;
}

export function buildForwardGraph(m: ModelSpec, plan: ForwardPlan): OpGraph {
  const w = rankWidths(m, plan.tp);
  const b = new GraphBuilder(m, plan, w);
  b.embedding();
  for (let l = 0; l < m.layers; l++) b.layer(l);
  b.head();
  return { ops: List(b.ops), params: List(b.params) };
}

class GraphBuilder {
  readonly ops: Op[] = [];
  readonly params: ParamTensor[] = [];
  readonly T: number;
  /** Tokens a rank holds outside the tensor-parallel regions: all of them, or 1/tp with sequence parallelism. */
  readonly Ts: number;
  readonly sp: boolean;
  readonly h: number;
  readonly bias: boolean;
  readonly dropout: boolean;
  readonly normNumel: number;

  constructor(
    readonly m: ModelSpec,
    readonly plan: ForwardPlan,
    readonly w: RankWidths,
  ) {
    this.T = tokensOf(plan);
    if (this.T <= 0) throw new SilicaError('graph: expected at least one token to process');
    this.sp = (plan.sequenceParallel ?? false) && plan.tp > 1;
    this.Ts = this.sp ? Math.ceil(this.T / plan.tp) : this.T;
    this.h = m.hidden;
    this.bias = m.bias ?? false;
    this.dropout = plan.training && (m.dropout ?? 0) > 0;
    this.normNumel = m.norm === 'layernorm' && this.bias ? 2 * this.h : this.h;
  }

  private param(name: string, numel: number, layer: number, tpSplitTensors = 0, sequenceSplitGradNumel = 0): string {
    this.params.push({ name, numel, layer, tpSplitTensors, sequenceSplitGradNumel });
    return name;
  }

  private pointwise(name: string, layer: number, fns: PointwiseFn[], rows: number, cols: number, param?: string, region?: 'attention'): void {
    for (const fn of fns) this.ops.push({ kind: 'pointwise', name: `${name}.${fn}`, layer, fns: [fn], rows, cols, ...(fn === 'bias' && param ? { param } : {}), ...(region ? { region } : {}) });
  }

  /** A tensor-parallel region's entry (f) or exit (g); `sequence`: the activations it carries are sequence-parallel. */
  private tp(mode: 'f' | 'g', name: string, layer: number, bytes: number, what?: string, sequence = true): void {
    if (this.plan.tp > 1) this.ops.push({ kind: 'tp-comm', name: `${name}.tp_${mode}`, layer, mode, bytes, ...(what ? { what } : {}), ...(this.sp && sequence ? { sequenceParallel: true } : {}) });
  }

  /** Linear with its bias (a separate element-wise op until the fusion pass folds it). */
  private linear(name: string, layer: number, tokens: number, inF: number, outF: number, parallel: 'column' | 'row' | 'replicated', paramName = name, withBias = this.bias, biasNumel?: number): void {
    const biasSize = withBias ? (biasNumel ?? outF) : 0;
    // Megatron splits a column-parallel layer's weight and bias, a row-parallel one's weight only.
    const split = parallel === 'column' ? (withBias ? 2 : 1) : parallel === 'row' ? 1 : 0;
    // The row-parallel bias is added after the region's exit, on a rank's 1/tp of the tokens under sequence parallelism.
    this.param(paramName, inF * outF + biasSize, layer, split, this.sp && parallel === 'row' ? biasSize : 0);
    this.ops.push({ kind: 'linear', name, layer, tokens, inFeatures: inF, outFeatures: outF, param: paramName, parallel });
  }

  /** A norm over `rows` tokens; `sequenceSplit`: between the tensor-parallel regions, on 1/tp of them under sequence parallelism. */
  private norm(name: string, layer: number, rows: number, sequenceSplit = true): void {
    this.param(name, this.normNumel, layer, 0, this.sp && sequenceSplit ? this.normNumel : 0);
    this.ops.push({ kind: 'norm', name, layer, norm: this.m.norm, rows, cols: this.h, param: name });
  }

  embedding(): void {
    const { m, T, h, plan, w } = this;
    const extra: string[] = [];
    this.param('embed.word', w.vocab * h, -1, 1);
    if ((m.positional ?? 'learned') === 'learned') extra.push(this.param('embed.position', m.maxSeq * h, -1));
    if (m.tokenTypes) extra.push(this.param('embed.type', m.tokenTypes * h, -1));
    this.ops.push({ kind: 'embedding', name: 'embed', layer: -1, tokens: T, hidden: h, vocabRows: w.vocab, extraParams: extra, positionRows: plan.positionRows, param: 'embed.word' });
    this.tp('g', 'embed', -1, T * h * plan.actBytes);
    if (m.normPlacement === 'post') this.norm('embed.norm', -1, this.Ts);
    if (this.dropout) this.pointwise('embed', -1, ['dropout'], this.Ts, h);
  }

  layer(l: number): void {
    const { m, T, Ts, h, plan } = this;
    const post = m.normPlacement === 'post';
    const act = T * h * plan.actBytes;
    const p = `l${l}`;
    // Between the tensor-parallel regions (norms, bias, dropout, residual) a rank holds Ts tokens.
    if (!post) this.norm(`${p}.norm1`, l, Ts);
    this.tp('f', `${p}.attn`, l, act);
    this.attention(l);
    if (m.parallelBlock) {
      this.ffn(l);
      this.pointwise(`${p}.branches`, l, ['residual'], T, h);
      this.tp('g', `${p}.block`, l, act);
      this.pointwise(`${p}.block`, l, ['residual'], Ts, h);
      return;
    }
    this.tp('g', `${p}.attn`, l, act);
    this.pointwise(`${p}.attn.out`, l, [...(this.bias ? (['bias'] as const) : []), ...(this.dropout ? (['dropout'] as const) : []), 'residual'], Ts, h, `${p}.attn.out`);
    this.norm(`${p}.${post ? 'norm1' : 'norm2'}`, l, Ts);
    this.tp('f', `${p}.ffn`, l, act);
    this.ffn(l);
    this.tp('g', `${p}.ffn`, l, act);
    const fc2Param = m.experts ? undefined : `${p}.ffn.fc2`;
    this.pointwise(`${p}.ffn.out`, l, [...(this.bias && fc2Param ? (['bias'] as const) : []), ...(this.dropout ? (['dropout'] as const) : []), 'residual'], Ts, h, fc2Param);
    if (post) this.norm(`${p}.norm2`, l, Ts);
  }

  private attention(l: number): void {
    const { m, T, h, plan, w } = this;
    const p = `l${l}.attn`;
    const qkvOut = w.qWidth + 2 * w.kvWidth;
    this.linear(`${p}.qkv`, l, T, h, qkvOut, 'column');
    if (this.bias) this.pointwise(`${p}.qkv`, l, ['bias'], T, qkvOut, `${p}.qkv`);
    if (m.positional === 'rope') this.pointwise(`${p}`, l, ['rope'], T, w.qWidth + w.kvWidth);
    if (plan.kvCacheBytes > 0) this.ops.push({ kind: 'copy', name: `${p}.kv_cache_write`, layer: l, bytes: T * 2 * w.kvWidth * plan.kvCacheBytes, bwdBytes: 0 });
    for (const [i, g] of plan.groups.entries()) {
      const tag = plan.groups.length > 1 ? `${p}.g${i}` : p;
      if (plan.flash) continue;
      const batch = g.count * w.heads;
      this.ops.push({ kind: 'bmm', name: `${tag}.qk`, layer: l, role: 'qk', batch, qLen: g.qLen, kvLen: g.kvLen, headDim: w.headDim });
      this.ops.push({ kind: 'softmax', name: `${tag}.softmax`, layer: l, rows: batch * g.qLen, cols: g.kvLen, region: 'attention' });
      if (this.dropout) this.pointwise(`${tag}.probs`, l, ['dropout'], batch * g.qLen, g.kvLen, undefined, 'attention');
      this.ops.push({ kind: 'bmm', name: `${tag}.pv`, layer: l, role: 'pv', batch, qLen: g.qLen, kvLen: g.kvLen, headDim: w.headDim });
    }
    if (plan.flash && plan.groups.length > 0) {
      this.ops.push({ kind: 'flash', name: `${p}.flash`, layer: l, heads: w.heads, kvHeads: w.kvHeads, headDim: w.headDim, causal: m.causal, groups: plan.groups });
    }
    if (plan.pagedKvLens.length > 0) {
      this.ops.push({ kind: 'paged-attention', name: `${p}.paged`, layer: l, heads: w.heads, kvHeads: w.kvHeads, headDim: w.headDim, kvLens: plan.pagedKvLens });
    }
    this.linear(`${p}.out`, l, T, w.qWidth, h, 'row', `${p}.out`, this.bias, h);
  }

  private ffn(l: number): void {
    const { m, T, h, plan, w } = this;
    if (!m.experts) {
      this.expertFfn(`l${l}.ffn`, l, T);
      return;
    }
    const topK = m.expertsPerToken ?? 1;
    const p = `l${l}.moe`;
    this.linear(`${p}.router`, l, T, h, m.experts, 'replicated', `${p}.router`, false);
    this.ops.push({ kind: 'softmax', name: `${p}.router.topk`, layer: l, rows: T, cols: m.experts });
    const routed = T * topK * h * plan.actBytes;
    this.ops.push({ kind: 'copy', name: `${p}.permute`, layer: l, bytes: routed, bwdBytes: routed });
    const perExpert = balancedExpertTokens(T, m.experts, topK);
    for (let e = 0; e < m.experts; e++) {
      if (perExpert[e]! > 0) this.expertFfn(`${p}.e${e}`, l, perExpert[e]!);
      else {
        // An expert that receives no tokens runs no kernels, but its weights still exist.
        this.param(`${p}.e${e}.fc1`, h * w.ffnIn + (this.bias ? w.ffnIn : 0), l, this.bias ? 2 : 1);
        this.param(`${p}.e${e}.fc2`, w.ffn * h + (this.bias ? h : 0), l, 1);
      }
    }
    this.ops.push({ kind: 'combine', name: `${p}.combine`, layer: l, tokens: T, hidden: h, topK });
  }

  /** FC1 (column-parallel) + activation + FC2 (row-parallel; its bias is added after the all-reduce). */
  private expertFfn(p: string, l: number, tokens: number): void {
    const { m, h, w } = this;
    this.linear(`${p}.fc1`, l, tokens, h, w.ffnIn, 'column');
    if (m.ffnKind === 'swiglu') {
      if (this.bias) this.pointwise(`${p}.fc1`, l, ['bias'], tokens, w.ffnIn, `${p}.fc1`);
      this.pointwise(p, l, ['swiglu'], tokens, w.ffn);
    } else {
      this.pointwise(`${p}.fc1`, l, [...(this.bias ? (['bias'] as const) : []), 'gelu'], tokens, w.ffn, `${p}.fc1`);
    }
    this.linear(`${p}.fc2`, l, tokens, w.ffn, h, 'row', `${p}.fc2`, this.bias, h);
  }

  head(): void {
    const { m, T, h, plan, w } = this;
    const L = m.layers;
    const R = plan.headRows;
    if (m.normPlacement !== 'post') this.norm('final.norm', L, this.Ts);
    // Sequence-parallel activations are gathered whole before the head picks its rows.
    if (this.sp) this.tp('f', 'head.sequence', L, T * h * plan.actBytes);
    if (R < T) this.ops.push({ kind: 'copy', name: 'head.gather', layer: L, bytes: R * h * plan.actBytes, bwdBytes: (R + T) * h * plan.actBytes });
    if (m.objective === 'mlm') {
      // BERT's MLM transform: dense + GeLU + layer norm, replicated across tensor-parallel ranks.
      this.linear('head.transform', L, R, h, h, 'replicated');
      this.pointwise('head.transform', L, [...(this.bias ? (['bias'] as const) : []), 'gelu'], R, h, 'head.transform');
      this.norm('head.norm', L, R, false);
    }
    this.tp('f', 'head', L, R * h * plan.actBytes, undefined, false);
    const outParam = m.tiedEmbeddings ? 'embed.word' : 'head.out';
    if (!m.tiedEmbeddings) this.param('head.out', h * w.vocab, L, 1);
    this.ops.push({ kind: 'linear', name: 'head.logits', layer: L, tokens: R, inFeatures: h, outFeatures: w.vocab, param: outParam, parallel: 'column' });
    if (m.objective === 'mlm' && this.bias) {
      this.param('head.bias', w.vocab, L, 1);
      this.pointwise('head.logits', L, ['bias'], R, w.vocab, 'head.bias');
    }
    if (plan.training) this.ops.push({ kind: 'xent', name: 'head.xent', layer: L, rows: R, cols: w.vocab });
    else this.ops.push({ kind: 'softmax', name: 'head.sample', layer: L, rows: R, cols: w.vocab });
    // Vocab-parallel softmax: max, sum and target logit of every row all-reduced together (fp32).
    this.tp('g', 'head.softmax_stats', L, 3 * R * 4, 'softmax statistics', false);
  }
}
