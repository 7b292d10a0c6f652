import { SilicaError } from '../../core/errors.js';
import type { Dtype } from '../../hw/config/schema.js';
import type { GemmShape } from '../../kernels/gemm.js';
import { checkTpSplit, widthSplitProblem } from '../../sw/graph/shard.js';
import { getModel, modelWidths, type ModelSpec } from '../../sw/models/index.js';

/**
 * The sub-layers of Megatron tensor parallelism whose output needs an all-reduce (mission.md §2):
 * row-parallel GEMMs producing [tokens, hidden] partial sums on every rank.
 * - forward: the attention output projection (K = query width / TP) and FC-2 (K = FFN width / TP);
 * - backward: the data gradients of FC-1 (K = FC-1 output width / TP, x2 for SwiGLU's gate) and of
 *   the QKV projection (K = (query + 2 key/value widths) / TP; key/value heads fewer than TP are
 *   replicated on every rank, as Megatron does for multi-query attention).
 */
export const SUBLAYERS = ['attn-out', 'fc2', 'fc1', 'qkv'] as const;
export type Sublayer = (typeof SUBLAYERS)[number];

export const PASS_OF: Record<Sublayer, 'fwd' | 'bwd'> = { 'attn-out': 'fwd', fc2: 'fwd', fc1: 'bwd', qkv: 'bwd' };

export const SUBLAYER_LABEL: Record<Sublayer, string> = {
  'attn-out': 'attn out-proj (fwd)',
  fc2: 'FC-2 (fwd)',
  fc1: 'FC-1 dgrad (bwd)',
  qkv: 'QKV dgrad (bwd)',
};

export function parseSublayer(name: string, pass?: string): Sublayer {
  const s = SUBLAYERS.find((x) => x === name);
  if (!s) throw new SilicaError(`--sublayer: expected one of ${SUBLAYERS.join(', ')}, got "${name}"`);
  if (pass !== undefined && pass !== 'fwd' && pass !== 'bwd') throw new SilicaError(`--pass: expected fwd or bwd, got "${pass}"`);
  if (pass !== undefined && pass !== PASS_OF[s]) {
    throw new SilicaError(`--pass: sub-layer ${s} needs its all-reduce in the ${PASS_OF[s]} pass (fwd: attn-out, fc2; bwd: fc1, qkv), got "${pass}"`);
  }
  return s;
}

/** The model width a sub-layer's K shards over the TP ranks, which must split evenly. */
function shardedWidth(m: ModelSpec, s: Sublayer): [what: string, width: number] {
  return s === 'attn-out' || s === 'qkv' ? ['attention', modelWidths(m).qWidth] : ['FFN', m.ffnHidden];
}

/** Why `tp` ranks cannot shard sub-layer `s` (a message without a flag, for a file's field), or undefined. */
export function sublayerSplitProblem(m: ModelSpec, tp: number, s: Sublayer): string | undefined {
  return widthSplitProblem(m, tp, ...shardedWidth(m, s));
}

/** K of the row-parallel GEMM on one rank; the width it shards must split evenly over the ranks. */
export function sublayerK(m: ModelSpec, tp: number, s: Sublayer): number {
  const { qWidth, kvWidth, ffnInWidth } = modelWidths(m);
  const per = (width: number) => Math.ceil(width / tp);
  checkTpSplit(m, tp, ...shardedWidth(m, s));
  switch (s) {
    case 'attn-out':
      return per(qWidth);
    case 'fc2':
      return per(m.ffnHidden);
    case 'fc1':
      return per(ffnInWidth);
    case 'qkv': {
      const kvPerRank = Math.ceil(m.kvHeads / tp) * m.headDim;
      return per(qWidth) + 2 * Math.min(kvWidth, m.kvHeads >= tp ? per(kvWidth) : kvPerRank);
    }
  }
}

export function sublayerGemm(model: string | ModelSpec, tp: number, s: Sublayer, tokens: number, dtype: Dtype = 'fp16'): GemmShape {
  const m = typeof model === 'string' ? getModel(model) : model;
  if (!Number.isInteger(tp) || tp < 1) throw new SilicaError(`--tp: expected a positive whole number, got ${tp}`);
  if (!Number.isInteger(tokens) || tokens < 1) throw new SilicaError(`--tokens: expected a positive whole number, got ${tokens}`);
  return { m: tokens, n: m.hidden, k: sublayerK(m, tp, s), dtype, name: `${m.name}.${s}.tp${tp}`, category: 'gemm' };
}
