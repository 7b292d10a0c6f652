import { describe, expect, it } from 'vitest';
import { Simulator } from '../../src/core/simulator.js';
import { hostNs, hostPhaseNs } from '../../src/sw/serving/host-overhead.js';
import { Lane } from '../../src/sw/serving/lane.js';
import { parseServeConfig, resolveServe, runServe, type ServeConfig } from '../../src/sw/serving/serve.js';
import { join } from 'node:path';
import '../../src/study/index.js';
import { loadExperimentFile, runExperiment } from '../../src/sweep/experiment.js';
import { ROOT, expectOneLineError, silica } from '../helpers/cli.js';

/**
 * The engine's host time per iteration (src/sw/serving/host-overhead.ts): added before each
 * iteration's GPU work by a synchronous scheduler, hidden behind it by an overlapped one.
 */
type Summary = Record<string, number>;
const run = (config: Partial<ServeConfig>): Summary => runServe(resolveServe(parseServeConfig({ model: 'llama2-7b', gpus: 1, tp: 1, ...config }))).summary as unknown as Summary;

/** One request alone: every decode step is one iteration of one sequence, so TPOT is a step's time. */
const alone = (policy: string, host?: Record<string, number | boolean>) => run({ policy, batch: 1, input_len: 256, output_len: 33, ...(host ? { host_overhead: host } : {}) } as Partial<ServeConfig>);

describe('host overhead per iteration', () => {
  it('the closed form: host + GPU when synchronous, the longer of the two when overlapped, nothing when absent', () => {
    const h = { perIterationNs: 2000, perSequenceNs: 50, overlapped: false };
    expect(hostNs(h, 10)).toBe(2500);
    // An iteration alone takes the host's phase, then its GPU work.
    const alone = (host: typeof h | undefined, gpuNs: number) => hostPhaseNs(host, gpuNs, 10) + gpuNs;
    expect(alone(h, 7000)).toBe(9500);
    expect(alone({ ...h, overlapped: true }, 7000)).toBe(7000);
    expect(alone({ ...h, overlapped: true }, 1000)).toBe(2500);
    expect(alone(undefined, 7000)).toBe(7000);
  });

  it('a lane in its host phase is busy, but its partner runs at its alone rate until its GPU work starts', () => {
    const sim = new Simulator();
    const a = new Lane(sim, 'a');
    const b = new Lane(sim, 'b');
    a.partner = b;
    b.partner = a;
    const ends: Record<string, number> = {};
    // Each iteration takes 100 ns alone and 200 ns beside the other's GPU work.
    a.start(100, 200, 'a', 1, () => (ends.a = sim.nowNs));
    b.start(100, 200, 'b', 1, () => (ends.b = sim.nowNs), undefined, 50);
    expect(b.busy).toBe(true);
    expect(b.onGpu).toBe(false);
    sim.run();
    // a: half done alone by 50 ns, the other half at the co-run rate (100 ns): ends at 150.
    expect(ends.a).toBeCloseTo(150, 9);
    // b: from 50 to 150 beside a (half its work), then alone (50 ns): ends at 200.
    expect(ends.b).toBeCloseTo(200, 9);
    expect(b.busyNs).toBeCloseTo(150, 9); // the GPU phase only
    // Overlapped: the GPU waits only for what the host needs beyond the GPU work.
    expect(hostPhaseNs({ perIterationNs: 50, perSequenceNs: 0, overlapped: true }, 100, 1)).toBe(0);
    expect(hostPhaseNs({ perIterationNs: 150, perSequenceNs: 0, overlapped: true }, 100, 1)).toBe(50);
  });

  it('a synchronous scheduler adds its time to every decode step of a lone request, exactly', () => {
    for (const policy of ['continuous', 'rapid']) {
      const base = alone(policy);
      const slowed = alone(policy, { per_iteration_us: 1500, per_sequence_us: 200 });
      // One sequence per step: 1.5 ms + 0.2 ms more per output token after the first.
      expect(slowed.tpot_mean_ms - base.tpot_mean_ms, policy).toBeCloseTo(1.7, 6);
      // The prefill is one iteration of one sequence too.
      expect(slowed.ttft_mean_ms - base.ttft_mean_ms, policy).toBeCloseTo(1.7, 6);
      // Every iteration waited that long; without host time the summary has no such key.
      expect(slowed.host_wait_ms_per_iteration, policy).toBeCloseTo(1.7, 9);
      expect(base).not.toHaveProperty('host_wait_ms_per_iteration');
    }
  });

  it('an overlapped scheduler costs nothing while the GPU step is longer, and sets the pace when it is not', () => {
    const base = alone('continuous');
    expect(base.tpot_mean_ms).toBeGreaterThan(2);
    const hidden = alone('continuous', { per_iteration_us: 1000, overlapped: true });
    expect(hidden.tpot_mean_ms).toBeCloseTo(base.tpot_mean_ms, 9);
    expect(hidden.host_wait_ms_per_iteration).toBe(0);
    const bound = alone('continuous', { per_iteration_us: 1000 * (base.tpot_mean_ms + 5), overlapped: true });
    expect(bound.tpot_mean_ms).toBeCloseTo(base.tpot_mean_ms + 5, 6);
  });

  it('more host time never helps: latencies rise and throughput falls with it, for every policy', () => {
    for (const policy of ['hybrid', 'rapid']) {
      const at = (us: number) => run({ model: 'llama3-8b', gpus: 2, tp: 1, policy, rate: 20, requests: 150, ...(us ? { host_overhead: { per_iteration_us: us } } : {}) } as Partial<ServeConfig>);
      const [a, b, c] = [at(0), at(2000), at(8000)];
      expect(b.tpot_mean_ms, policy).toBeGreaterThan(a.tpot_mean_ms);
      expect(c.tpot_mean_ms, policy).toBeGreaterThan(b.tpot_mean_ms);
      expect(c.ttft_p50_ms, policy).toBeGreaterThanOrEqual(a.ttft_p50_ms);
      expect(c.duration_s, policy).toBeGreaterThanOrEqual(a.duration_s);
    }
  });

  it('the Chrome trace shows each host phase on a track of its own, ending where the GPU work begins', () => {
    const r = runServe(resolveServe(parseServeConfig({ model: 'llama2-7b', gpus: 1, tp: 1, policy: 'rapid', batch: 1, input_len: 256, output_len: 9, host_overhead: { per_iteration_us: 1500 } })), { chromeTrace: true });
    const trace = JSON.parse(r.chromeTrace!.toJson()) as { traceEvents: Array<{ name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: { name?: string } }> };
    const threadOf = new Map(trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => [e.tid, e.args!.name!]));
    const hosts = trace.traceEvents.filter((e) => e.name === 'host');
    const gpuWork = trace.traceEvents.filter((e) => e.ph === 'X' && e.name !== 'host');
    // One prefill and eight decode steps, each after 1.5 ms on its stream's host track.
    expect(hosts).toHaveLength(9);
    expect(gpuWork).toHaveLength(9);
    for (const h of hosts) {
      expect(h.dur).toBeCloseTo(1500, 6);
      expect(threadOf.get(h.tid)).toMatch(/^(prefill|decode) host$/);
      expect(gpuWork.some((g) => Math.abs(g.ts - (h.ts + h.dur!)) < 1e-6 && `${threadOf.get(g.tid)} host` === threadOf.get(h.tid))).toBe(true);
    }
    // Without host time, no host track.
    const plain = runServe(resolveServe(parseServeConfig({ model: 'llama2-7b', gpus: 1, tp: 1, policy: 'rapid', batch: 1, input_len: 256, output_len: 9 })), { chromeTrace: true });
    expect(plain.chromeTrace!.toJson()).not.toMatch(/"host"/);
  });

  it("the serving study's rows carry the wait when host time is configured, and only then", async () => {
    const study = (extra: string[]) =>
      runExperiment(
        loadExperimentFile(join(ROOT, 'configs', 'experiments', 'rapid-serve.yaml'), [
          'models=[llama2-7b]',
          'gpus=1',
          'tp=1',
          'workloads=[lmsys]',
          'requests=30',
          'rate_fractions=[1.0]',
          'goodput_probes=1',
          'policies=[{name: c, policy: continuous}]',
          'compare=c',
          'baselines=[]',
          'figures=false',
          ...extra,
        ]),
        { lanes: 1 },
      );
    const runs = (await study(['serve.host_overhead={per_iteration_us: 2000}'])).rows.filter((r) => r.mode !== 'goodput');
    expect(runs.length).toBeGreaterThan(1);
    for (const r of runs) expect(r.host_wait_ms_per_iteration).toBeCloseTo(2, 9);
    for (const r of (await study([])).rows) expect(r).not.toHaveProperty('host_wait_ms_per_iteration');
  });

  it('bad values are refused with one line naming the flag', () => {
    expectOneLineError(silica(['serve', '--host-iteration-us', '-1']), /^silica: --host-iteration-us: expected a number >= 0, got -1$/);
    expectOneLineError(silica(['serve', '--host-sequence-us', 'x']), /^silica: --host-sequence-us: expected a finite number, got "x"$/);
    expectOneLineError(silica(['serve', '--host-overlapped=maybe']), /^silica: --host-overlapped: expected true or false, got "maybe"$/);
  });
});
