import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { cuRange, emptyGroups, firstNCus } from '../../src/hw/gpu/cu-mask.js';
import { buildIterationTrace } from '../../src/sw/infer/build.js';
import { getModel } from '../../src/sw/models/index.js';
import { ARM_BATCHES, AdaptiveResourceManager } from '../../src/sw/serving/arm.js';
import { costModelFor, IterationCostModel } from '../../src/sw/serving/cost-model.js';
import { CorunMemo } from '../../src/sw/serving/corun.js';
import { parseServeConfig, resolveServe, runServe } from '../../src/sw/serving/serve.js';
import { replayTrace } from '../../src/trace/replay.js';

describe('iteration costs on the hardware model', () => {
  it('batch-1 decode of llama2-7b on a100-sxm is within 15% of the measured 9.53 ms/token (hardware.md B7, gpt-fast)', () => {
    // gpt-fast: bf16, 5-token prompt, batch 1 (S32). Offline batch through the serving engine.
    const r = runServe(resolveServe(parseServeConfig({ model: 'llama2-7b', hw: 'a100-sxm', gpus: 1, tp: 1, policy: 'continuous', batch: 1, input_len: 5, output_len: 200 })));
    const ms = Number(r.summary.per_token_latency_ms);
    expect(Math.abs(ms - 9.53) / 9.53).toBeLessThan(0.15);
  });

  it('the symmetric one-rank, one-layer shortcut matches a full replay of the iteration trace on every GPU', () => {
    const hw = loadHardware('mi300x');
    const model = getModel('llama3-8b');
    const costs = new IterationCostModel(hw, model, { tp: 2, dtype: 'bf16', kvDtype: 'bf16' });
    // Shapes on the bucket grid, so bucketing adds no error here.
    const cases = [
      { prefill: [{ tokens: 1024, context: 0 }], decode: [] as number[] },
      { prefill: [], decode: new Array<number>(16).fill(1024) },
      { prefill: [{ tokens: 256, context: 512 }], decode: new Array<number>(8).fill(2048) },
      // Identical prompts share one attention launch in the trace (an offline batch of short prompts).
      { prefill: new Array(16).fill({ tokens: 64, context: 0 }), decode: [] },
      { prefill: [...new Array(4).fill({ tokens: 128, context: 0 }), { tokens: 512, context: 0 }], decode: new Array<number>(4).fill(1024) },
    ];
    for (const c of cases) {
      const replay = replayTrace(buildIterationTrace(model, { ...c, tp: 2, dtype: 'bf16', kvDtype: 'bf16' }), hw, { recordTimeline: false });
      const mine = costs.iteration(c.prefill, c.decode.length, c.decode.reduce((a, b) => a + b, 0)).ns;
      expect(Math.abs(mine - replay.totalNs) / replay.totalNs).toBeLessThan(0.03);
    }
  });
});

describe('co-running prefill and decode (CU masks, shared HBM)', () => {
  const hw = loadHardware('mi300x');
  const costs = costModelFor(hw, getModel('llama3.1-70b'), { tp: 8, dtype: 'bf16', kvDtype: 'bf16' });
  const corun = new CorunMemo(costs);

  it('disjoint masks interfere only through HBM and links: a few percent, as measured on MI300X', () => {
    const f = corun.factors(2048, 64, 2048, cuRange(costs.layout, 32, 272), firstNCus(costs.layout, 32));
    expect(f.prefillSlowdown).toBeGreaterThanOrEqual(1);
    expect(f.prefillSlowdown).toBeLessThan(1.05);
    expect(f.decodeSlowdown).toBeGreaterThanOrEqual(1);
    expect(f.decodeSlowdown).toBeLessThan(1.1);
  });

  it('unmasked streams also compete for CU slots, which slows decode more than a split does', () => {
    const split = corun.factors(2048, 64, 2048, cuRange(costs.layout, 32, 272), firstNCus(costs.layout, 32));
    const unmasked = corun.factors(2048, 64, 2048, costs.allCus, costs.allCus);
    expect(unmasked.decodeSlowdown).toBeGreaterThan(split.decodeSlowdown);
    expect(unmasked.prefillSlowdown).toBeGreaterThan(split.prefillSlowdown);
  });

  it('the ARM table is built by simulation, monotone, within the hardware queues, and every split covers every XCD', () => {
    const arm = new AdaptiveResourceManager(costs, corun, { mode: 'adaptive', itl_target_fraction: 0.8, min_hold_ms: 50, switch_cost_us: 50 }, 100, { contextTokens: 2048, prefillTokens: 2048, maxBatch: 256 });
    expect(arm.table.map((e) => e.batch)).toEqual(ARM_BATCHES.filter((b) => b <= 256));
    for (let i = 1; i < arm.table.length; i++) expect(arm.table[i]!.decodeCus).toBeGreaterThanOrEqual(arm.table[i - 1]!.decodeCus);
    expect(arm.table[0]!.decodeCus).toBeLessThan(arm.table[arm.table.length - 1]!.decodeCus);
    expect(arm.hwQueuesUsed).toBeLessThanOrEqual(hw.compute.hw_queues);
    for (const e of arm.table) {
      // Meets the target where the table says so (or is the largest split allowed).
      expect(e.decodeItlMs <= arm.targetMs || e.decodeCus === 296).toBe(true);
      const s = arm.split(e.decodeCus);
      expect(emptyGroups(s.decode)).toEqual([]);
      expect(emptyGroups(s.prefill)).toEqual([]);
      expect(s.decode.count + s.prefill.count).toBe(hw.compute.cus);
      for (let cu = 0; cu < hw.compute.cus; cu++) expect(s.decode.enabled[cu]! + s.prefill.enabled[cu]!).toBe(1);
      // MI300X semantics: the low n bits put n/8 CUs on each XCD.
      expect([...s.decode.perGroup]).toEqual(new Array(8).fill(e.decodeCus / 8));
    }
  });

  it('the ARM keeps both streams unmasked at light load and splits at heavy load', () => {
    const base = { model: 'llama3.1-70b', hw: 'mi300x', policy: 'rapid', workload: 'lmsys', requests: 120, seed: 2 };
    const light = runServe(resolveServe(parseServeConfig({ ...base, rate: 0.5 })));
    const heavy = runServe(resolveServe(parseServeConfig({ ...base, arrival: 'burst' })));
    // Share of ARM samples (every 100 ms of simulated time, plus every switch) in the split mode.
    const splitShare = (tl: Array<Record<string, number | string>>, until = Infinity) => {
      const xs = tl.filter((t) => Number(t.time_s) <= until);
      return xs.filter((t) => t.mode === 'split').length / xs.length;
    };
    expect(splitShare(light.timeline!)).toBeLessThan(0.2);
    // While the burst's prompts are queued (the first part of the run) decode runs on its table set.
    const end = Math.max(...heavy.timeline!.map((t) => Number(t.time_s)));
    expect(splitShare(heavy.timeline!, end / 4)).toBeGreaterThan(0.8);
    expect(Number(heavy.summary.arm_switches)).toBeGreaterThan(0);
    for (const t of heavy.timeline!) {
      if (t.mode !== 'split') continue;
      expect(Number(t.decode_cus) % 8).toBe(0);
      expect(Number(t.decode_cus) + Number(t.prefill_cus)).toBe(304);
    }
  });
});
