import { describe, expect, it } from 'vitest';
import { makeResource, solveRates, type FlowState } from '../../src/core/flow-network.js';
import { Simulator } from '../../src/core/simulator.js';

describe('flow network (max-min fair sharing)', () => {
  it('splits a link evenly between two equal flows and conserves bytes', () => {
    const sim = new Simulator();
    const link = makeResource('link', 10); // 10 B/ns
    const done: number[] = [];
    sim.startFlow({ name: 'a', amount: 100, demands: [{ resource: link, perUnit: 1 }], onComplete: () => done.push(sim.nowNs) });
    sim.startFlow({ name: 'b', amount: 300, demands: [{ resource: link, perUnit: 1 }], onComplete: () => done.push(sim.nowNs) });
    sim.run();
    // Both at 5 B/ns until a finishes at t=20 (100 B), then b alone at 10 B/ns: 200 B left -> t=40.
    expect(done[0]).toBeCloseTo(20, 9);
    expect(done[1]).toBeCloseTo(40, 9);
    expect(link.usedIntegral).toBeCloseTo(400, 6);
  });

  it('gives a capped flow its cap and the rest to the other', () => {
    const sim = new Simulator();
    const r = makeResource('hbm', 10);
    const a = sim.startFlow({ name: 'a', amount: 1e9, demands: [{ resource: r, perUnit: 1 }], maxRate: 2 });
    const b = sim.startFlow({ name: 'b', amount: 1e9, demands: [{ resource: r, perUnit: 1 }] });
    sim.run(1);
    expect(a.rate).toBeCloseTo(2, 9);
    expect(b.rate).toBeCloseTo(8, 9);
  });

  it('serves higher priority first (strict priority arbitration)', () => {
    const sim = new Simulator();
    const r = makeResource('hbm', 10);
    const hi = sim.startFlow({ name: 'gemm', amount: 1e9, demands: [{ resource: r, perUnit: 1 }], maxRate: 7, priority: 2 });
    const lo = sim.startFlow({ name: 'dma', amount: 1e9, demands: [{ resource: r, perUnit: 1 }], priority: 1 });
    sim.run(1);
    expect(hi.rate).toBeCloseTo(7, 9);
    expect(lo.rate).toBeCloseTo(3, 9);
  });

  it('fires milestones in order at the right times', () => {
    const sim = new Simulator();
    const r = makeResource('link', 1);
    const at: number[] = [];
    sim.startFlow({
      name: 'x',
      amount: 10,
      demands: [{ resource: r, perUnit: 1 }],
      milestones: [2, 5, 10].map((m) => ({ at: m, fire: () => at.push(sim.nowNs) })),
    });
    sim.run();
    expect(at.map((t) => Math.round(t * 1e6) / 1e6)).toEqual([2, 5, 10]);
  });

  it('a resource left idle reads zero usage and integrates nothing once its flows end', () => {
    const sim = new Simulator();
    const link = makeResource('link', 10);
    const hbm = makeResource('hbm', 100);
    // a uses both; b only the link. After a ends (t = 10), the HBM is idle.
    sim.startFlow({ name: 'a', amount: 50, demands: [{ resource: link, perUnit: 1 }, { resource: hbm, perUnit: 2 }] });
    sim.startFlow({ name: 'b', amount: 150, demands: [{ resource: link, perUnit: 1 }] });
    sim.run(15);
    expect(hbm.usage).toBe(0);
    expect(link.usage).toBeCloseTo(10, 12);
    expect(hbm.usedIntegral).toBeCloseTo(100, 9); // 50 units x 2 B each, all before t = 10
    sim.run();
    expect(hbm.usedIntegral).toBeCloseTo(100, 9);
    expect(link.usedIntegral).toBeCloseTo(200, 9);
  });

  it('solveRates zeroes the resources it is asked to reset and returns those in use', () => {
    const a = makeResource('a', 10);
    const b = makeResource('b', 10);
    const idle = makeResource('idle', 10);
    idle.usage = 7; // left over from an earlier solve
    const flow = (name: string, demands: FlowState['demands']): FlowState => ({ id: 0, name, amount: 1, demands, maxRate: Infinity, weight: 1, priority: 1, done: 0, rate: 0 });
    const busy = solveRates([flow('f', [{ resource: a, perUnit: 1 }, { resource: b, perUnit: 0.5 }])], [idle, a]);
    expect(busy).toEqual([a, b]);
    expect([a.usage, b.usage, idle.usage]).toEqual([10, 5, 0]);
  });

  it('solveRates refills the list it is given as busy, which may be its reset list (the simulator reuses one)', () => {
    const a = makeResource('a', 10);
    const b = makeResource('b', 10);
    const c = makeResource('c', 10);
    const flow = (name: string, demands: FlowState['demands'], maxRate = Infinity): FlowState => ({ id: 0, name, amount: 1, demands, maxRate, weight: 1, priority: 1, done: 0, rate: 0 });
    const list = solveRates([flow('f', [{ resource: a, perUnit: 1 }]), flow('g', [{ resource: b, perUnit: 1 }, { resource: c, perUnit: 1 }])], []);
    expect(list).toEqual([a, b, c]);
    // Now only c is demanded (and b by a paused flow): a and b, busy before, drop to zero usage.
    const again = solveRates([flow('p', [{ resource: b, perUnit: 1 }], 0), flow('h', [{ resource: c, perUnit: 2 }])], list, list);
    expect(again).toBe(list);
    expect(again).toEqual([c]);
    expect([a.usage, b.usage, c.usage]).toEqual([0, 0, 10]);
  });

  it('rates read inside an event are current after settleRates (the loop solves them lazily)', () => {
    const sim = new Simulator();
    const link = makeResource('link', 10);
    const a = sim.startFlow({ name: 'a', amount: 1000, demands: [{ resource: link, perUnit: 1 }] });
    const seen: number[] = [];
    sim.at(5, () => sim.startFlow({ name: 'b', amount: 1000, demands: [{ resource: link, perUnit: 1 }] }));
    sim.at(5, () => {
      sim.settleRates();
      seen.push(a.rate, link.usage);
    });
    sim.run(6);
    // At t = 5 the link is shared: the event sees a's half, not the 10 B/ns it had alone.
    expect(seen).toEqual([5, 10]);
    expect(a.done).toBeCloseTo(55, 9);
  });
});
