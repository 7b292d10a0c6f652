import { SilicaError } from '../../core/errors.js';
import { modelWidths, type ModelSpec } from '../models/index.js';

/**
 * One tensor-parallel rank's widths under Megatron sharding: attention heads and the FFN's inner
 * width split across ranks (column-parallel QKV/FC1, row-parallel out-proj/FC2), the vocabulary
 * split for the embedding and the output layer, the residual stream (hidden) replicated.
 *
 * Key/value heads fewer than ranks (multi-query, narrow GQA) are replicated, one per rank, as
 * Megatron does. When heads do not divide evenly (T-NLG's 28 heads on 8 ranks) the projections
 * are still split by columns and the attention core is costed for the busiest rank (ceil): the
 * SPMD program models the rank everybody waits for.
 */
export interface RankWidths {
  tp: number;
  hidden: number;
  /** Attention heads on this rank (busiest rank when uneven). */
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Query projection width on this rank. */
  qWidth: number;
  /** One of K or V projection width on this rank. */
  kvWidth: number;
  /** FFN inner width on this rank. */
  ffn: number;
  /** First FFN GEMM output width on this rank (2 x ffn for SwiGLU's fused gate and up). */
  ffnIn: number;
  /** Vocabulary rows on this rank. */
  vocab: number;
}

/** Why `tp` ranks cannot split `width` (Megatron shards it: a remainder has no rank to go to), or undefined. */
export function widthSplitProblem(m: ModelSpec, tp: number, what: string, width: number): string | undefined {
  return width % tp === 0 ? undefined : `${m.name}'s ${what} width ${width} does not split evenly over ${tp} ranks`;
}

/** A width the TP ranks shard must divide evenly; the message names --tp. */
export function checkTpSplit(m: ModelSpec, tp: number, what: string, width: number): void {
  const problem = widthSplitProblem(m, tp, what, width);
  if (problem) throw new SilicaError(`--tp ${tp}: ${problem}`);
}

/**
 * Why `tp` ranks cannot split the model (its attention or FFN width), or undefined when they can.
 * A message without a flag, so that a TP width the user did not type (a serving pool's, derived
 * from its GPU count) can be reported under the flag that set it.
 */
export function tpSplitProblem(m: ModelSpec, tp: number): string | undefined {
  // Uneven heads are costed for the busiest rank (see RankWidths); a rank with no whole head is not a split.
  if (tp > m.heads) return `${m.name} has ${m.heads} attention heads, fewer than the ${tp} ranks (each rank needs at least one)`;
  return widthSplitProblem(m, tp, 'attention', modelWidths(m).qWidth) ?? widthSplitProblem(m, tp, 'FFN', m.ffnHidden);
}

/** Why sequence parallelism cannot run over `tp` ranks, or undefined (a message without a flag, as tpSplitProblem). */
export function sequenceParallelProblem(tp: number): string | undefined {
  return tp > 1 ? undefined : `splits the tokens of a tensor-parallel group: expected tp > 1, got tp ${tp}`;
}

export function rankWidths(m: ModelSpec, tp: number): RankWidths {
  if (!Number.isInteger(tp) || tp < 1) throw new SilicaError(`--tp: expected a positive whole number, got ${tp}`);
  const w = modelWidths(m);
  const problem = tpSplitProblem(m, tp);
  if (problem) throw new SilicaError(`--tp ${tp}: ${problem}`);
  const heads = Math.ceil(m.heads / tp);
  let kvHeads: number;
  let kvWidth: number;
  if (m.kvHeads === m.heads) {
    kvHeads = heads;
    kvWidth = w.kvWidth / tp;
  } else if (m.kvHeads % tp === 0) {
    kvHeads = m.kvHeads / tp;
    kvWidth = kvHeads * m.headDim;
  } else {
    // Fewer KV heads than ranks (or uneven): each rank holds (a replica of) the KV heads its queries use.
    kvHeads = Math.max(1, Math.ceil(m.kvHeads / tp));
    kvWidth = kvHeads * m.headDim;
  }
  const ffn = m.ffnHidden / tp;
  return {
    tp,
    hidden: m.hidden,
    heads,
    kvHeads,
    headDim: m.headDim,
    qWidth: w.qWidth / tp,
    kvWidth,
    ffn,
    ffnIn: m.ffnKind === 'swiglu' ? 2 * ffn : ffn,
    vocab: Math.ceil(m.vocab / tp),
  };
}

/** Tokens each expert receives when `tokens x topK` assignments are balanced (deterministic). */
export function balancedExpertTokens(tokens: number, experts: number, topK: number): number[] {
  const assignments = tokens * topK;
  const base = Math.floor(assignments / experts);
  const extra = assignments % experts;
  return Array.from({ length: experts }, (_, e) => base + (e < extra ? 1 : 0));
}
