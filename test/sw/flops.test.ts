import { describe, expect, it } from 'vitest';
import { attendedPairs } from '../../src/kernels/attention.js';
import {
  buildTrainingTrace,
  getModel,
  layerMatmulParams,
  listModels,
  mlmPredictionsPerSeq,
  parameterCount,
  passMatmulFlops,
  summariseTrace,
  type ModelSpec,
} from '../../src/sw/index.js';

/**
 * The analytic training count, written out. Per micro-batch of b sequences of s tokens (T = b s):
 *
 *   forward = 2 T L (P_attn + P_ffn)                       projections and FFN (P = weight-matrix parameters of one layer)
 *           + L * attention                                 QK^T and PV, 2 products of 2 FLOPs per (query, key, head-dim):
 *                 unfused: 4 b s^2 (heads x headDim)        cuBLAS computes the full s x s scores; the causal mask is applied in softmax
 *                 flash:   4 b heads headDim pairs(s)       only attended pairs (s(s+1)/2 when causal)
 *           + head                                          causal LM: 2 T h V; BERT MLM: 2 P h h (transform) + 2 P h V over P = ceil(0.15 s) b masked positions
 *   backward = 2 x forward for every GEMM (data and weight gradients); flash attention's backward is 2.5 x
 *              (its four products plus recomputing QK^T)
 *   recompute adds the layers' forward (not embeddings or head) once more; selective recomputation
 *   only the unfused attention's products (fused attention recomputes inside its own backward).
 *
 * This is 6 x (non-embedding matmul parameters) x tokens plus the attention terms, exactly.
 */
function analytic(m: ModelSpec, b: number, s: number, flash: boolean, recompute: boolean | 'selective') {
  const T = b * s;
  const p = layerMatmulParams(m);
  const ffnTokens = m.experts ? T * (m.expertsPerToken ?? 1) : T;
  const layerGemm = 2 * T * (p.attention + p.router) + 2 * ffnTokens * p.ffnPerExpert;
  const attn = flash ? 4 * b * m.heads * m.headDim * attendedPairs(s, s, m.causal) : 4 * b * s * s * m.heads * m.headDim;
  const headTokens = m.objective === 'mlm' ? b * mlmPredictionsPerSeq(s) : T;
  const head = 2 * headTokens * m.hidden * m.vocab + (m.objective === 'mlm' ? 2 * headTokens * m.hidden * m.hidden : 0);
  const fwdGemm = m.layers * layerGemm + head;
  const fwdAttn = m.layers * attn;
  const bwdGemm = 2 * fwdGemm + (recompute === true ? m.layers * layerGemm : 0);
  const bwdAttn = (flash ? 2.5 : 2) * fwdAttn + (recompute === true || (recompute === 'selective' && !flash) ? fwdAttn : 0);
  return { fwdGemm, fwdAttn, bwdGemm, bwdAttn, total: fwdGemm + fwdAttn + bwdGemm + bwdAttn };
}

const dense = listModels().filter((n) => !getModel(n).experts);

describe('training FLOPs match the analytic count', () => {
  for (const name of dense) {
    it(name, () => {
      const m = getModel(name);
      const seq = Math.min(256, m.maxSeq);
      for (const [flash, recompute] of [[false, false], [true, true], [false, 'selective'], [true, 'selective']] as const) {
        const t = buildTrainingTrace(m, { batch: 2, seq, precision: 'mixed', flashAttention: flash, recompute });
        const s = summariseTrace(t);
        const a = analytic(m, 2, seq, flash, recompute);
        expect(passMatmulFlops(s, 'fwd', ['gemm'])).toBe(a.fwdGemm);
        expect(passMatmulFlops(s, 'fwd', ['attention'])).toBe(a.fwdAttn);
        expect(passMatmulFlops(s, 'bwd', ['gemm'])).toBe(a.bwdGemm);
        expect(passMatmulFlops(s, 'bwd', ['attention'])).toBeCloseTo(a.bwdAttn, -3);
        expect(s.matmulFlops / a.total).toBeCloseTo(1, 12);
        expect(passMatmulFlops(s, 'opt')).toBe(0);
      }
    });
  }

  it('backward GEMM FLOPs are exactly twice forward (unfused attention included)', () => {
    const s = summariseTrace(buildTrainingTrace(getModel('bert-large'), { batch: 4, seq: 128, precision: 'fp32' }));
    expect(passMatmulFlops(s, 'bwd', ['gemm'])).toBe(2 * passMatmulFlops(s, 'fwd', ['gemm']));
    expect(passMatmulFlops(s, 'bwd', ['attention'])).toBe(2 * passMatmulFlops(s, 'fwd', ['attention']));
  });

  it('micro-batches multiply the passes and keep one optimizer step', () => {
    const m = getModel('bert-base');
    const one = buildTrainingTrace(m, { batch: 4, seq: 128, precision: 'mixed' }).programs[0]!;
    const four = buildTrainingTrace(m, { batch: 4, seq: 128, precision: 'mixed', microBatches: 4 }).programs[0]!;
    expect(summariseTrace({ meta: {}, worldSize: 1, programs: [four] }).matmulFlops).toBe(4 * summariseTrace({ meta: {}, worldSize: 1, programs: [one] }).matmulFlops);
    const opt = (p: typeof one) => p.filter((n) => n.pass === 'opt').length;
    expect(opt(four)).toBe(opt(one));
    expect(four.filter((n) => n.name.endsWith('grad_accumulate.mb3')).length).toBeGreaterThan(0);
    // The first micro-batch stores its gradients; it adds only the tied word table's second one.
    expect(four.filter((n) => n.name.includes('grad_accumulate.mb0')).map((n) => n.name)).toEqual(['embed.word.grad_accumulate.mb0']);
  });

  it("a tied embedding's two gradients are summed where no gradient is stored yet; untied parameters are stored, not added", () => {
    for (const name of ['bert-base', 'gpt2-xl', 'llama2-7b']) {
      const m = getModel(name);
      for (const tp of [1, 2]) {
        const nodes = buildTrainingTrace(m, { batch: 2, seq: 128, precision: 'mixed', tp }).programs[0]!;
        const adds = nodes.filter((n) => n.name.includes('grad_accumulate'));
        // One add of the rank's shard of the table (its share of the vocabulary rows), after the
        // lookup's backward: the head's gradient came first and is stored.
        if (m.tiedEmbeddings) {
          expect(adds.map((n) => [n.name, (n.kernel as { elements: number }).elements]), `${name} tp ${tp}`).toEqual([['embed.word.grad_accumulate', Math.ceil(m.vocab / tp) * m.hidden]]);
          const at = (nodeName: string) => nodes.findIndex((n) => n.name === nodeName);
          expect(at('embed.word.bwd')).toBeGreaterThanOrEqual(0);
          expect(at('embed.word.grad_accumulate')).toBeGreaterThan(at('embed.word.bwd'));
        } else expect(adds, `${name} tp ${tp}`).toEqual([]);
      }
    }
  });

  it('gradient accumulation adds each parameter once per micro-batch after the first (a shared embedding once per use, and its two uses summed in the first)', () => {
    for (const [name, fuseBiasAct] of [['bert-base', true], ['bert-base', false], ['gpt2-xl', true], ['llama2-7b', true], ['mixtral-8x7b', true]] as const) {
      const m = getModel(name);
      const nodes = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'mixed', microBatches: 3, fuseBiasAct }).programs[0]!;
      const added = nodes.filter((n) => n.name.includes('grad_accumulate')).reduce((s, n) => s + (n.kernel as { elements: number }).elements, 0);
      // A weight and its bias are one parameter to silica, and two gradients written by two kernels where the bias is its own kernel.
      expect(added, `${name} fuse ${fuseBiasAct}`).toBe(2 * (parameterCount(m) + (m.tiedEmbeddings ? m.vocab * m.hidden : 0)) + (m.tiedEmbeddings ? m.vocab * m.hidden : 0));
    }
  });

  it('MoE activates the top-k experts: expert FLOPs are tokens x k, not tokens x experts', () => {
    const m = getModel('mixtral-8x7b');
    const s = summariseTrace(buildTrainingTrace(m, { batch: 1, seq: 256, precision: 'bf16', flashAttention: true }));
    expect(passMatmulFlops(s, 'fwd', ['gemm'])).toBe(analytic(m, 1, 256, true, false).fwdGemm);
  });
});
