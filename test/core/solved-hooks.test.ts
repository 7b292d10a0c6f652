import { describe, expect, it } from 'vitest';
import { makeResource } from '../../src/core/flow-network.js';
import { Simulator } from '../../src/core/simulator.js';

describe('Simulator.onSolved', () => {
  it('runs after every solve with its pass, and solves again while a hook changes what the flows ask', () => {
    const sim = new Simulator();
    const link = makeResource('link', 10);
    const flow = sim.startFlow({ name: 'f', amount: 100, demands: [{ resource: link, perUnit: 1 }], maxRate: 8 });
    const seen: Array<[number, number]> = [];
    // A hook that halves the flow's cap twice, as a governor moving a clock to its fixed point would.
    sim.onSolved((pass) => {
      seen.push([pass, flow.rate]);
      if (pass < 2) sim.setMaxRate(flow, flow.maxRate / 2);
    });
    const end = sim.run();
    expect(seen.slice(0, 3)).toEqual([
      [0, 8],
      [1, 4],
      [2, 2],
    ]);
    expect(end).toBeCloseTo(50, 9);
  });

  it('throws on a hook that never settles, naming the time', () => {
    const sim = new Simulator();
    const link = makeResource('link', 10);
    const flow = sim.startFlow({ name: 'f', amount: 100, demands: [{ resource: link, perUnit: 1 }], maxRate: 8 });
    sim.onSolved(() => sim.setMaxRate(flow, flow.maxRate * 0.999));
    expect(() => sim.run()).toThrow(/rates still changing after 64 solves at 0 ns/);
  });
});
