import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { runnerFor } from '../../src/validate/index.js';

// The serving engine's cost paths as validation runners (src/validate/serving.ts).
const h100 = loadHardware('h100-sxm');
const step = (params: Record<string, unknown>) => runnerFor('serve-step')(h100, { model: 'llama3-8b', ...params }, { overlays: [] }) as Record<string, number>;
const corun = (params: Record<string, unknown>) =>
  runnerFor('serve-corun')(h100, { model: 'llama3-8b', prompt_tokens: 2048, decodes: 64, context: 2048, ...params }, { overlays: [] }) as Record<string, number>;

describe('validation runner serve-step', () => {
  it('splits a step into attention and everything else, and a prefill grows with its prompt', () => {
    const a = step({ prompt_tokens: 1024 });
    const b = step({ prompt_tokens: 4096 });
    expect(a.step_ms).toBeCloseTo(a.attention_ms! + a.linear_ms!, 9);
    expect(b.linear_ms! / a.linear_ms!).toBeGreaterThan(3.5); // GEMMs: linear in tokens
    expect(b.attention_ms! / a.attention_ms!).toBeGreaterThan(10); // causal attention: quadratic
  });

  it('a decode step never beats streaming the weights once at the HBM rate', () => {
    const r = step({ decodes: 1, context: 512 });
    const weightBytes = 15.0e9; // llama3-8b in bf16: 7.5 B parameters read a step (8.0 B less the embedding table)
    const hbmBytesPerMs = (h100.memory.hbm.peak_gbps * 1e9) / 1e3;
    expect(r.step_ms).toBeGreaterThan(weightBytes / hbmBytesPerMs);
  });

  it('fewer SMs never make a step faster', () => {
    const ms = [16, 40, 72, 104, 132].map((cus) => step({ prompt_tokens: 2048, cus }).step_ms!);
    for (let i = 1; i < ms.length; i++) expect(ms[i]).toBeLessThanOrEqual(ms[i - 1]!);
  });

  it('rejects an empty step and a partition larger than the chip', () => {
    expect(() => step({})).toThrow(SilicaError);
    expect(() => step({ decodes: 8, context: 512, cus: 200 })).toThrow(/cus: expected 1-132 CUs/);
  });
});

describe('validation runner serve-corun', () => {
  it('lanes on disjoint SMs still slow each other through the shared HBM', () => {
    for (const [p, d] of [[72, 60], [104, 28]]) {
      const r = corun({ cus_prefill: p, cus_decode: d });
      expect(r.decode_slowdown).toBeGreaterThan(1.05);
      expect(r.prefill_slowdown).toBeGreaterThan(1.05);
    }
  });

  it('needs both lanes\' SM counts, and they must fit on the chip', () => {
    expect(() => corun({ cus_prefill: 72 })).toThrow(/cus_decode/);
    expect(() => corun({ cus_prefill: 100, cus_decode: 60 })).toThrow(/cus_decode: expected 1-32 CUs/);
  });

  it('unmasked lanes (shared: true) take turns: decode suffers more than on its own SMs, and the pair gains little', () => {
    const split = corun({ cus_prefill: 72, cus_decode: 60, reps_prefill: 2, reps_decode: 10 });
    const unmasked = corun({ cus_prefill: 132, shared: true, reps_prefill: 2, reps_decode: 10 });
    expect(unmasked.decode_slowdown).toBeGreaterThan(split.decode_slowdown!);
    expect(unmasked.pair_speedup).toBeLessThan(split.pair_speedup!);
    expect(unmasked.pair_speedup).toBeGreaterThanOrEqual(1 - 1e-9);
    // The engine's per-layer co-run says the same of the unmasked lanes.
    const engine = corun({ cus_prefill: 132, shared: true });
    expect(engine.decode_slowdown).toBeGreaterThan(corun({ cus_prefill: 72, cus_decode: 60 }).decode_slowdown!);
  });

  it('window mode needs both lanes\' step counts as whole numbers; shared takes no cus_decode', () => {
    expect(() => corun({ cus_prefill: 132, shared: true, reps_prefill: 2 })).toThrow(/reps_decode/);
    expect(() => corun({ cus_prefill: 132, shared: true, reps_prefill: 2, reps_decode: 1.5 })).toThrow(/reps_decode: expected a whole number of steps/);
    expect(() => corun({ cus_prefill: 132, cus_decode: 10, shared: true })).toThrow(/cus_decode: not with shared: true/);
    expect(() => corun({ cus_prefill: 132, shared: null })).toThrow(/shared: expected true or false, got null/);
    expect(() => corun({ cus_prefill: 132, shared: true, reps_prefill: 1e12, reps_decode: 1 })).toThrow(/reps_prefill: .* kernel launches; expected at most 1,000,000/);
    expect(() => corun({ cus_prefill: 72, cus_decode: 60, decodes: 0 })).toThrow(/decodes: expected a whole number of requests, at least 1/);
  });
});
