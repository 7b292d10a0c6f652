import { DTYPE_BYTES, type Dtype } from '../hw/config/schema.js';
import type { KernelCost } from './types.js';

export interface AttentionShape {
  name?: string;
  batch: number;
  heads: number;
  /** Key/value heads (< heads for grouped-query attention). */
  kvHeads: number;
  qLen: number;
  kvLen: number;
  headDim: number;
  causal: boolean;
  dtype: Dtype;
  /** Backward pass of fused attention (recomputes scores; ~2.5x the forward matrix work). */
  backward?: boolean;
}

/** Query rows one workgroup owns in a flash-attention kernel. */
const Q_TILE = 128;
/** Keys one split handles in split-KV (flash-decoding) kernels. */
const KV_SPLIT = 512;

/** Query-key pairs actually attended (causal masks the upper triangle, aligned to the end). */
export function attendedPairs(qLen: number, kvLen: number, causal: boolean): number {
  if (!causal) return qLen * kvLen;
  const offset = kvLen - qLen;
  // sum_{i=0}^{q-1} min(kvLen, offset + i + 1)
  return qLen * offset + (qLen * (qLen + 1)) / 2;
}

/**
 * Fused (flash-style) attention: scores never reach DRAM. Matrix FLOPs are the two products
 * QK^T and PV over the attended pairs; DRAM traffic is Q, K, V read once and O written once (K and
 * V of a head are reused from cache by every query tile). Decode-shaped calls (few queries, long
 * KV) split the KV sequence across workgroups so the whole part streams the cache.
 */
export function flashAttentionCost(s: AttentionShape): KernelCost {
  const b = DTYPE_BYTES[s.dtype];
  const pairs = attendedPairs(s.qLen, s.kvLen, s.causal) * s.batch * s.heads;
  const passFactor = s.backward ? 2.5 : 1;
  const matrixFlops = 4 * pairs * s.headDim * passFactor;
  const vectorFlops = 4 * pairs * (s.backward ? 2 : 1);
  const qTiles = Math.ceil(s.qLen / Q_TILE);
  const kvSplits = s.qLen <= 16 ? Math.max(1, Math.ceil(s.kvLen / KV_SPLIT)) : 1;
  const workgroups = s.batch * s.heads * qTiles * kvSplits;
  const qo = s.batch * s.heads * s.qLen * s.headDim * b;
  const kv = 2 * s.batch * s.kvHeads * s.kvLen * s.headDim * b;
  const read = (qo + kv) * (s.backward ? 2 : 1) + (s.backward ? qo : 0);
  const write = qo * (s.backward ? 3 : 1);
  const perWgKvBytes = (kv / (s.batch * s.kvHeads)) * (1 / kvSplits);
  return {
    name: s.name ?? (s.backward ? 'flash_attention_bwd' : 'flash_attention_fwd'),
    category: 'attention',
    workgroups,
    perWorkgroup: {
      matrixFlops: matrixFlops / workgroups,
      vectorFlops: vectorFlops / workgroups,
      // One exp per attended score (twice in backward: recomputed probabilities).
      transcendentalOps: (pairs * (s.backward ? 2 : 1)) / workgroups,
      cuBytes: perWgKvBytes + (qo * 2) / workgroups,
    },
    dtype: s.dtype,
    flops: matrixFlops + vectorFlops,
    hbmReadBytes: read,
    hbmWriteBytes: write,
    shape: { batch: s.batch, heads: s.heads, kv_heads: s.kvHeads, q_len: s.qLen, kv_len: s.kvLen, head_dim: s.headDim },
  };
}
