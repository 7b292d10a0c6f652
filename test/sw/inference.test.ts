import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { costKernel } from '../../src/kernels/desc.js';
import { buildDecodeTrace, buildIterationTrace, buildPrefillTrace, getModel, layerMatmulParams, parameterCount, summariseTrace } from '../../src/sw/index.js';
import type { Trace } from '../../src/trace/types.js';

const hw = loadHardware('mi300x');

function dramBytes(t: Trace): number {
  let bytes = 0;
  for (const n of t.programs[0]!) {
    if (!n.kernel) continue;
    const k = costKernel(hw, n.kernel);
    bytes += k.hbmReadBytes + k.hbmWriteBytes;
  }
  return bytes;
}

describe('decode', () => {
  /**
   * One decode step reads every weight once (the embedding table only at B rows, so it is left out)
   * plus the KV cache of every request: L x B x 2 (K and V) x kvHeads x headDim x (context + 1) x bytes.
   * Activations, the new K/V written and split-K partials are small: within 3%.
   */
  for (const [name, batch, context] of [['llama2-7b', 8, 2048], ['llama2-7b', 1, 512], ['llama3.1-70b', 32, 4096]] as const) {
    it(`${name} B=${batch} context=${context}: DRAM bytes = weights + KV read (3%)`, () => {
      const m = getModel(name);
      const weights = (parameterCount(m) - m.vocab * m.hidden) * 2;
      const kv = m.layers * batch * 2 * m.kvHeads * m.headDim * (context + 1) * 2;
      const ratio = dramBytes(buildDecodeTrace(m, { batch, context, dtype: 'bf16' })) / (weights + kv);
      expect(ratio).toBeGreaterThanOrEqual(1);
      expect(ratio).toBeLessThan(1.03);
    });
  }

  it('MoE decode reads only the top-k experts of each layer', () => {
    const m = getModel('mixtral-8x7b');
    const p = layerMatmulParams(m);
    const active = (m.layers * (p.attention + p.router + (m.expertsPerToken ?? 1) * p.ffnPerExpert) + m.vocab * m.hidden) * 2;
    const t = buildDecodeTrace(m, { batch: 1, context: 1024 });
    const experts = t.programs[0]!.filter((n) => n.layer === 0 && /moe\.e\d+\.fc1$/.test(n.name));
    expect(experts.length).toBe(2);
    const ratio = dramBytes(t) / active;
    expect(ratio).toBeGreaterThan(1);
    expect(ratio).toBeLessThan(1.03);
  });

  it('requests with different contexts read their own KV and share one paged-attention launch', () => {
    const m = getModel('llama3-8b');
    const contexts = [100, 2000, 513, 7000];
    const t = buildDecodeTrace(m, { batch: 4, context: contexts });
    const attn = t.programs[0]!.filter((n) => n.layer === 0 && n.category === 'attention');
    expect(attn.length).toBe(1);
    const kv = contexts.reduce((s, c) => s + 2 * m.kvHeads * m.headDim * (c + 1) * 2, 0);
    const k = attn[0]!.kernel as { bytesRead: number };
    expect(k.bytesRead).toBeGreaterThan(kv);
    expect(k.bytesRead).toBeLessThan(kv * 1.01);
  });

  it('rejects decode on an encoder and contexts past the model', () => {
    expect(() => buildDecodeTrace(getModel('bert-large'), { batch: 1, context: 10 })).toThrow(/encoder/);
    expect(() => buildDecodeTrace(getModel('llama2-7b'), { batch: 1, context: 5000 })).toThrow(/exceed/);
    expect(() => buildDecodeTrace(getModel('llama2-7b'), { batch: 2, context: [1, 2, 3] })).toThrow(/one context per request/);
  });
});

describe('prefill and mixed iterations', () => {
  it('prefill FLOPs: 2 T (layer params) + causal attention + one output row per sequence', () => {
    const m = getModel('llama2-7b');
    const [B, S] = [2, 1024];
    const p = layerMatmulParams(m);
    const expected = m.layers * (2 * B * S * (p.attention + p.ffnPerExpert) + 4 * B * m.heads * m.headDim * ((S * (S + 1)) / 2)) + 2 * B * m.hidden * m.vocab;
    expect(summariseTrace(buildPrefillTrace(m, { batch: B, seq: S })).matmulFlops).toBe(expected);
  });

  it('a mixed iteration runs every token through the GEMMs together and writes the KV of new tokens', () => {
    const m = getModel('llama3-8b');
    const t = buildIterationTrace(m, { prefill: [{ tokens: 512, context: 1024 }], decode: [10, 20, 30], tp: 1, dtype: 'bf16' });
    const p = t.programs[0]!;
    expect(p.find((n) => n.name === 'l0.attn.qkv')!.kernel).toMatchObject({ m: 515 });
    expect(p.find((n) => n.name === 'l0.attn.kv_cache_write')!.kernel).toMatchObject({ bytes: 515 * 2 * m.kvHeads * m.headDim * 2 });
    expect(p.find((n) => n.name === 'head.logits')!.kernel).toMatchObject({ m: 4 });
    expect(t.meta.phase).toBe('iteration');
  });
});
