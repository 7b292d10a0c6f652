import { describe, expect, it } from 'vitest';
import { Simulator } from '../../src/core/simulator.js';
import { fillTime, fitPlan, sloLifetimeMs, steadyPlan } from '../../src/sw/serving/steady-state.js';
import { goodputOf, parseServeConfig, resolveServe, runServe, type ServeConfig } from '../../src/sw/serving/serve.js';
import { defaultSlo } from '../../src/sw/serving/metrics.js';
import { silicaErrorOf } from '../helpers/errors.js';

// Llama-3-8B on one H100, lmsys, continuous batching: it sustains about 13 req/s (a burst of 300
// completes 9.2 req/s, its drain included), and a run of a few hundred requests takes well under a second.
const node = (c: Partial<ServeConfig>) =>
  resolveServe(parseServeConfig({ model: 'llama3-8b', hw: 'h100-sxm', gpus: 1, tp: 1, policy: 'continuous', workload: 'lmsys', requests: 200, seed: 3, ...c }));

describe('steady-state fill time (the M/G/infinity fill curve)', () => {
  it('is the share of the lifetime when every request lives as long', () => {
    expect(fillTime([4, 4, 4], 0.9)).toBeCloseTo(3.6, 12);
  });

  it('solves mean(min(S, t)) = share x mean(S) between the sorted lifetimes', () => {
    // S in {1, 3}: for t in [1, 3], mean(min(S, t)) = (1 + t) / 2, which reaches 0.9 x 2 at t = 2.6.
    expect(fillTime([3, 1], 0.9)).toBeCloseTo(2.6, 12);
    // And at a share the shorter lifetime already covers: t < 1, mean = t = 0.4 x 2.
    expect(fillTime([3, 1], 0.4)).toBeCloseTo(0.8, 12);
    expect(fillTime([])).toBe(0);
  });

  it('grows with the lifetimes and never passes the longest', () => {
    const s = [1, 2, 5, 40, 3, 7];
    expect(fillTime(s.map((x) => 2 * x))).toBeCloseTo(2 * fillTime(s), 12);
    expect(fillTime(s, 1)).toBeCloseTo(40, 12);
    expect(fillTime(s, 0.5)).toBeLessThan(fillTime(s, 0.9));
  });

  it('bounds a request by its TTFT SLO and an ITL SLO per later token', () => {
    const slo = defaultSlo(false); // 1 s per 1,000 prompt tokens (floor 100 ms), 100 ms ITL
    expect(sloLifetimeMs(slo, 2000, 11)).toBeCloseTo(2000 + 10 * 100, 9);
    expect(sloLifetimeMs(slo, 10, 1)).toBeCloseTo(100, 9);
  });

  it('plans warm-up and cool-down arrivals at the rate, and shares what a short trace leaves', () => {
    const p = steadyPlan(500, 10, 2.05);
    expect(p).toEqual({ warmupS: 2.05, warmupRequests: 21, measuredRequests: 500, cooldownRequests: 21 });
    expect(fitPlan(p, 542)).toEqual(p);
    expect(fitPlan(p, 520)).toMatchObject({ warmupRequests: 10, measuredRequests: 500, cooldownRequests: 10 });
    expect(fitPlan(p, 300)).toMatchObject({ warmupRequests: 0, measuredRequests: 300, cooldownRequests: 0 });
  });
});

describe('Simulator.stop', () => {
  it('ends the run after the event that stops it, leaving later events unfired', () => {
    const sim = new Simulator();
    const fired: number[] = [];
    sim.at(10, () => fired.push(10));
    sim.at(20, () => {
      fired.push(20);
      sim.stop();
    });
    sim.at(30, () => fired.push(30));
    expect(sim.run()).toBe(20);
    expect(fired).toEqual([10, 20]);
    // A later run goes on from there.
    expect(sim.run()).toBe(30);
    expect(fired).toEqual([10, 20, 30]);
  });
});

describe('steady-state serving runs', () => {
  it('measures the requests asked for, after warm-up arrivals, and is deterministic', () => {
    const r = node({});
    const a = runServe(r, { ratePerS: 2, steady: true });
    const b = runServe(r, { ratePerS: 2, steady: true });
    // The host-side memo statistics count what this process had cached: the simulated figures repeat.
    const simulated = (s: Record<string, unknown>) => JSON.stringify(Object.entries(s).filter(([k]) => !k.startsWith('memo_')));
    expect(simulated(a.summary)).toBe(simulated(b.summary));
    expect(a.summary.requests_total).toBe(200);
    expect(a.requests).toHaveLength(200);
    expect(a.summary.requests_completed).toBe(200);
    // The warm-up lasts the fill time: with 100 ms of ITL SLO per lmsys output token, tens of seconds.
    expect(Number(a.summary.warmup_requests)).toBeGreaterThan(20);
    expect(Number(a.summary.warmup_s)).toBeGreaterThan(10);
    // Far below capacity the node keeps up: requests complete at the arrival rate (Poisson noise
    // over a 100 s window: within 15%), and every request meets the SLOs.
    expect(Number(a.summary.throughput_req_s)).toBeGreaterThan(2 * 0.85);
    expect(Number(a.summary.throughput_req_s)).toBeLessThan(2 * 1.15);
    expect(a.summary.slo_attainment).toBe(1);
    // A plain run of the same requests measures them all and has no window.
    const plain = runServe(r, { ratePerS: 2 });
    expect(plain.summary.warmup_requests).toBeUndefined();
    expect(plain.summary.requests_total).toBe(200);
  });

  it('shows an overload that a short run from an empty node hides', () => {
    const r = node({});
    // Above what the node sustains.
    const burst = runServe(resolveServe({ ...r.config, arrival: 'burst' }));
    const rate = 20;
    const plain = runServe(r, { ratePerS: rate });
    const steady = runServe(r, { ratePerS: rate, steady: true });
    expect(Number(steady.summary.slo_attainment)).toBeLessThan(Number(plain.summary.slo_attainment));
    // Saturated, the window's completions are the node's capacity, not the offered rate.
    expect(Number(steady.summary.throughput_req_s)).toBeLessThan(rate * 0.9);
    expect(Number(steady.summary.throughput_req_s)).toBeGreaterThan(Number(burst.summary.throughput_req_s) * 0.8);
  });

  it('gives goodput probes no more than the node sustains', () => {
    const r = node({ requests: 120 });
    // What the node sustains: the window's completions at a rate far past saturation, over a long
    // window (1,000 requests: 13.0 req/s; 120 give 11.6, a short window's noise).
    const capacity = Number(runServe(node({ requests: 1000 }), { ratePerS: 30, steady: true }).summary.throughput_req_s);
    // A goodput search from an empty node, measuring all 120 requests of each probe, reports 27 req/s.
    const g = goodputOf(r, { startRate: 2 });
    // A 5% bisection bracket and the window's noise: within 10% of it, and the probes ran steady.
    expect(g.goodput_req_s).toBeGreaterThan(1);
    expect(g.goodput_req_s).toBeLessThan(capacity * 1.1);
    for (const p of g.points) expect(p.summary.warmup_requests).toBeGreaterThan(0);
  });

  it('refuses a steady state where no rate gives arrivals, in one line naming the flag', () => {
    expect(silicaErrorOf(() => runServe(node({ arrival: 'burst' }), { steady: true }))).toMatch(/^--steady-state: not with --arrival burst/);
    expect(silicaErrorOf(() => runServe(node({ batch: 4, input_len: 100, output_len: 10 }), { steady: true }))).toMatch(/^--steady-state: not with an offline --batch/);
    expect(silicaErrorOf(() => runServe(node({}), { steady: true }))).toMatch(/^--steady-state: needs --rate/);
  });
});
