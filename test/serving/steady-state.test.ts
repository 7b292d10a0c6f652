import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Simulator } from '../../src/core/simulator.js';
import { KvBlockManager } from '../../src/sw/serving/kv-cache.js';
import '../../src/study/index.js';
import { loadExperimentFile, runExperiment } from '../../src/sweep/experiment.js';
import { fillTime, fitPlan, sloLifetimeMs, steadyPlan } from '../../src/sw/serving/steady-state.js';
import { goodputOf, parseServeConfig, resolveServe, runServe, type ServeConfig } from '../../src/sw/serving/serve.js';
import { defaultSlo } from '../../src/sw/serving/metrics.js';
import { silicaErrorOf } from '../helpers/errors.js';
import { expectOneLineError, silica } from '../helpers/cli.js';

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
  it('reports progress over the warm-up and measured requests, ending at their total', () => {
    const calls: Array<[number, number]> = [];
    const out = runServe(node({}), { ratePerS: 8, steady: true, progress: (done, total) => calls.push([done, total]) });
    const total = Number(out.summary.warmup_requests) + 200;
    expect(calls.length).toBeGreaterThan(1);
    for (const [, t] of calls) expect(t).toBe(total);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThan(calls[i - 1]![0]);
    expect(calls[calls.length - 1]).toEqual([total, total]);
  });

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

describe('steady-state runs, hardened (session 39 review)', () => {
  it('keeps KV blocks with the requests still in flight when it stops, on every policy', () => {
    // The end-of-run check was skipped for every steady-state run (its load is in flight); it now
    // asks that only unfinished requests hold blocks. Its unit: a finished sequence's blocks are a leak.
    const kv = new KvBlockManager(100, 16);
    kv.grow(1, 40, 0);
    kv.grow(2, 40, 0);
    expect(kv.heldOnlyBy(new Set([1, 2]))).toBe(true);
    expect(kv.heldOnlyBy(new Set([1]))).toBe(false);
    kv.release(2, 1);
    expect(kv.heldOnlyBy(new Set([1]))).toBe(true);
    // Past capacity (20 req/s, above), so warm-up and cool-down requests hold blocks at the stop.
    const policies: Array<[string, Record<string, unknown>, number]> = [
      ['continuous', {}, 1],
      ['hybrid', { chunk: 512 }, 1],
      ['rapid', {}, 1],
      ['disagg', { prefill_gpus: 1, decode_gpus: 1 }, 2],
    ];
    for (const [policy, policy_options, gpus] of policies) {
      const s = runServe(node({ policy, policy_options, gpus, requests: 60 }), { ratePerS: 20, steady: true }).summary;
      expect(Number(s.requests_completed) + Number(s.requests_rejected) + Number(s.requests_unfinished), policy).toBe(60);
      expect(s.requests_unfinished, policy).toBe(0);
      expect(Number(s.cooldown_requests), policy).toBeGreaterThan(0);
      // What completes in the window cannot outrun what arrives in it and what the warm-up left queued.
      expect(Number(s.throughput_req_s) * Number(s.window_s), policy).toBeLessThanOrEqual(60 + Number(s.warmup_requests));
    }
  });

  it('refuses one measured request (no arrival window to read throughput over), naming --requests or the trace', () => {
    expect(silicaErrorOf(() => runServe(node({ requests: 1 }), { ratePerS: 2, steady: true }))).toMatch(/^--requests: expected at least 2 in steady state/);
    // Two measured requests give a window, and the figures over it are finite.
    const two = runServe(node({ requests: 2 }), { ratePerS: 2, steady: true }).summary;
    expect(Number(two.window_s)).toBeGreaterThan(0);
    expect(Number.isFinite(Number(two.throughput_tok_s))).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'silica-steady-trace-'));
    const one = join(dir, 'one.csv');
    writeFileSync(one, 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n');
    expect(silicaErrorOf(() => runServe(node({ workload: undefined, trace: one, requests: 5 }), { ratePerS: 2, steady: true }))).toMatch(/^--trace: expected at least 2 requests in .*one\.csv/);
  });

  it('says what a short trace left of the planned warm-up: the measured count kept, the rest shared', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-steady-trace-'));
    const file = join(dir, 'short.csv');
    const rows = 50;
    const lines = Array.from({ length: rows }, (_, i) => `2023-11-16 18:15:${String(i).padStart(2, '0')}.0000000,${200 + i},${20 + i}`);
    writeFileSync(file, ['TIMESTAMP,ContextTokens,GeneratedTokens', ...lines].join('\n') + '\n');
    // About 3.6 s of warm-up for these lengths: 73 arrivals each way at 20 req/s, more than the file holds.
    const out = runServe(node({ workload: undefined, trace: file, requests: 30 }), { ratePerS: 20, steady: true });
    const { plan, planned } = out.steady!;
    expect(plan.warmupRequests + plan.measuredRequests + plan.cooldownRequests).toBe(rows);
    expect(planned.warmupRequests + planned.measuredRequests + planned.cooldownRequests).toBeGreaterThan(rows);
    expect(plan.measuredRequests).toBe(30);
    expect(plan.warmupRequests).toBe(Math.floor((rows - 30) / 2));
    expect(out.summary.warmup_requests).toBe(plan.warmupRequests);
    expect(out.summary.requests_total).toBe(30);
    // silica serve says so on stderr, in one line, and prints the run's figures.
    const cli = silica(['serve', '--model', 'llama3-8b', '--hw', 'h100-sxm', '--gpus', '1', '--tp', '1', '--trace', file, '--rate', '20', '--requests', '30', '--steady-state', '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).warmup_requests).toBe(plan.warmupRequests);
    const note = cli.stderr.trim().split('\n');
    expect(note).toHaveLength(1);
    expect(note[0]).toMatch(new RegExp(`^silica serve: note: --steady-state: planned ${planned.warmupRequests} warm-up, 30 measured .* has ${rows} requests: ran ${plan.warmupRequests}, 30 and ${plan.cooldownRequests}`));
    expectOneLineError(silica(['serve', '--model', 'llama3-8b', '--hw', 'h100-sxm', '--gpus', '1', '--tp', '1', '--rate', '2', '--requests', '1', '--goodput']), /^silica: --requests: expected at least 2 in steady state/);
    // A run that drew every request it planned reports the same plan twice.
    const full = runServe(node({}), { ratePerS: 2, steady: true }).steady!;
    expect(full.plan).toEqual(full.planned);
  });

  it("runs a study with serve.steady_state: true, the default's rows, and no steady state in its burst runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-steady-study-'));
    const study = (serve: string) => {
      const file = join(dir, `s${serve.length}.yaml`);
      writeFileSync(
        file,
        'kind: serve\nhw: h100-sxm\ngpus: 1\ntp: 1\nmodels: [llama3-8b]\nworkloads: [lmsys]\npolicies: [{ name: c, policy: continuous }]\n' +
          `rate_fractions: [0.5]\nrequests: 30\nseed: 3\ngoodput_probes: 0\ncompare: c\nbaselines: [c]\nfigures: false\n${serve}`,
      );
      return runExperiment(loadExperimentFile(file), { outDir: join(dir, `out${serve.length}`), lanes: 1 });
    };
    // It failed: its unconstrained runs (a burst) were refused a steady state.
    const on = await study('serve: { steady_state: true }\n');
    const byDefault = await study('');
    expect(JSON.stringify(on.rows)).toBe(JSON.stringify(byDefault.rows));
    const burst = on.rows.filter((r) => r.mode === 'unconstrained');
    const rates = on.rows.filter((r) => r.mode === 'rate');
    expect(burst.length).toBe(1);
    expect(burst[0]!.warmup_requests).toBeUndefined();
    expect(rates.length).toBeGreaterThan(0);
    for (const r of rates) expect(Number(r.warmup_requests)).toBeGreaterThan(0);
  });
});
