import { describe, expect, it } from 'vitest';
import { fcfsLatencyNs, latencyBoundSpeed } from '../../src/hw/memory/latency.js';
import { SpeedMemo, speedMemoFor } from '../../src/hw/memory/speed-memo.js';
import { arbitrationPolicy } from '../../src/hw/memory/arbitration.js';

/**
 * Producer speeds under loaded latency are remembered by state (speed-memo.ts): a remembered speed
 * must be the one the bisection gives, each state solved once, and states that differ in any of
 * the five numbers kept apart.
 */
describe('producer speed memo', () => {
  const solveFor = (idle: number, hidden: number, iteration: number, uComm: number, uFull: number) => () =>
    latencyBoundSpeed({ idleNs: idle, hiddenNs: hidden, iterationNs: iteration }, (s) => fcfsLatencyNs(idle, uComm + uFull * s));

  it('solves a state once and gives back exactly what the bisection gives', () => {
    const memo = new SpeedMemo();
    let solves = 0;
    const counted = (solve: () => number) => () => (solves++, solve());
    const state = [500, 600, 100, 0.5, 0.45] as const;
    const first = memo.speed(...state, counted(solveFor(...state)));
    expect(first).toBe(solveFor(...state)());
    expect(first).toBeLessThan(1); // a loaded channel slows this producer: the memo is exercised on a real fixed point
    expect(memo.speed(...state, counted(solveFor(...state)))).toBe(first);
    expect(solves).toBe(1);
  });

  it('keeps states apart that differ in any number', () => {
    const memo = new SpeedMemo();
    const base = [500, 600, 100, 0.5, 0.45] as const;
    for (let i = 0; i < base.length; i++) {
      const other = [...base] as [number, number, number, number, number];
      other[i] = other[i]! * 1.1;
      memo.speed(...base, solveFor(...base));
      expect(memo.speed(...other, solveFor(...other))).toBe(solveFor(...other)());
    }
  });

  it('finds every state it remembered, exactly, however many (its table grows), and no other', () => {
    const memo = new SpeedMemo();
    const state = (i: number) => [500, 600 + (i % 7), 100, (i % 101) / 101, i / 5000] as const;
    for (let i = 0; i < 5000; i++) {
      expect(memo.find(...state(i))).toBeNaN();
      memo.remember(...state(i), 1 / (i + 1));
    }
    for (let i = 0; i < 5000; i++) expect(memo.find(...state(i))).toBe(1 / (i + 1));
    expect(memo.find(500, 600, 100, 0.5, 0.123456789)).toBeNaN();
    // -0 is the state +0 is (as Map keys, SameValueZero).
    memo.remember(500, 600, 100, 0, 0.25, 0.75);
    expect(memo.find(500, 600, 100, -0, 0.25)).toBe(0.75);
  });

  it('is shared by the controllers of policies with one latency law, and only by them', () => {
    const config = { policy: 'fair', sample_ns: 100, mca: { occupancy_threshold: 4, starvation_limit_ns: 1000 } } as never;
    const fair = arbitrationPolicy('fair').create(config);
    const mca = arbitrationPolicy('mca').create(config);
    expect(fair.latencyLaw).toBeDefined();
    expect(mca.latencyLaw).toBeDefined();
    expect(fair.latencyLaw).not.toBe(mca.latencyLaw);
    expect(speedMemoFor(fair.latencyLaw!)).toBe(speedMemoFor(arbitrationPolicy('fair').create(config).latencyLaw!));
    expect(speedMemoFor(fair.latencyLaw!)).not.toBe(speedMemoFor(mca.latencyLaw!));
  });
});
