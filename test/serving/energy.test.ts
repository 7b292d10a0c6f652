import { describe, expect, it } from 'vitest';
import { Simulator } from '../../src/core/simulator.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { cuRange } from '../../src/hw/gpu/cu-mask.js';
import { getModel } from '../../src/sw/models/index.js';
import { IterationCostModel } from '../../src/sw/serving/cost-model.js';
import { CorunMemo } from '../../src/sw/serving/corun.js';
import { Lane } from '../../src/sw/serving/lane.js';
import { parseServeConfig, resolveServe, runServe } from '../../src/sw/serving/serve.js';

describe('serving energy', () => {
  it('a lane draws its iteration energy as it progresses, at the co-run share while its partner runs (closed form)', () => {
    const sim = new Simulator();
    const sink = { dynamicEnergyNj: 0 };
    const a = new Lane(sim, 'a', undefined, sink);
    const b = new Lane(sim, 'b', undefined, sink);
    a.partner = b;
    b.partner = a;
    const ends: Record<string, number> = {};
    // a: 10 ns alone, 20 beside b, 100 nJ alone, half of it per unit of work beside b.
    a.drawing(100, 0.5);
    a.start(10, 20, 'a', 1, () => (ends.a = sim.nowNs));
    sim.after(5, () => {
      b.drawing(50, 0.8);
      b.start(10, 20, 'b', 1, () => (ends.b = sim.nowNs));
    });
    sim.run();
    // a: half alone (50 nJ), half beside b from 5 to 15 (25 nJ); b: half beside a (20 nJ), half alone to 20 (25 nJ).
    expect(ends).toEqual({ a: 15, b: 20 });
    expect(sink.dynamicEnergyNj).toBeCloseTo(50 + 25 + 20 + 25, 9);
  });

  it("a co-run's energy factors: the lower clock beside the other lane saves energy where the cap binds", () => {
    const model = getModel('llama3-8b');
    const factorsAt = (cap: number) => {
      const hw = loadHardware('h200-sxm', [`compute.power.cap_w=${cap}`]);
      const costs = new IterationCostModel(hw, model, { tp: 1, dtype: 'bf16', kvDtype: 'bf16' });
      return new CorunMemo(costs).factors(2048, 64, 2048, cuRange(costs.layout, 0, 72), cuRange(costs.layout, 72, 60));
    };
    const free = factorsAt(1e12);
    const capped = factorsAt(700);
    for (const f of [free.prefillEnergyFactor, free.decodeEnergyFactor, capped.prefillEnergyFactor, capped.decodeEnergyFactor]) {
      expect(f).toBeGreaterThan(0.3);
      expect(f).toBeLessThan(1.3);
    }
    // The H200 holds 1560 MHz with both lanes (validation/power.yaml): the prefill lane's work costs less there.
    expect(capped.prefillEnergyFactor).toBeLessThan(0.9 * free.prefillEnergyFactor);
  });

  it('co-running rapid lanes never draw more than the cap on average (helper-37: 710 W at 700 before the pair was bounded)', () => {
    for (const hw of ['h100-sxm', 'h200-sxm']) {
      for (const cap of [700, 400]) {
        const s = runServe(resolveServe(parseServeConfig({ model: 'llama3-8b', hw, gpus: 1, tp: 1, policy: 'rapid', batch: 256, input_len: 2048, output_len: 128, hw_set: [`compute.power.cap_w=${cap}`] }))).summary;
        expect(Number(s.avg_board_power_w), `${hw} at ${cap} W`).toBeLessThanOrEqual(cap);
        expect(Number(s.avg_board_power_w)).toBeGreaterThan(102.2);
      }
    }
  });

  it('every policy draws between static power and the cap on every GPU over the run, and not on a part without a power model', () => {
    for (const policy of ['continuous', 'hybrid', 'disagg', 'rapid']) {
      const gpus = policy === 'disagg' ? 2 : 1;
      const s = runServe(resolveServe(parseServeConfig({ model: 'llama3-8b', hw: 'h200-sxm', gpus, tp: 1, policy, workload: 'lmsys', rate: 6, requests: 40, seed: 3 }))).summary;
      const gpuSeconds = Number(s.duration_s) * gpus;
      expect(Number(s.energy_j), policy).toBeGreaterThan(102.2 * gpuSeconds);
      expect(Number(s.energy_j), policy).toBeLessThanOrEqual(700 * gpuSeconds * (1 + 1e-9));
      expect(Number(s.avg_board_power_w) * gpuSeconds).toBeCloseTo(Number(s.energy_j), 6);
      expect(Number(s.energy_per_output_token_j) * Number(s.throughput_tok_s) * Number(s.duration_s)).toBeCloseTo(Number(s.energy_j), 6);
    }
    const mi = runServe(resolveServe(parseServeConfig({ model: 'llama3-8b', hw: 'mi300x', gpus: 1, tp: 1, policy: 'rapid', workload: 'lmsys', rate: 6, requests: 20, seed: 3 }))).summary;
    expect(mi).not.toHaveProperty('energy_j');
  });
});
