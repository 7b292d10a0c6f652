import { describe, expect, it } from 'vitest';
import { hostNs, withHostNs } from '../../src/sw/serving/host-overhead.js';
import { parseServeConfig, resolveServe, runServe, type ServeConfig } from '../../src/sw/serving/serve.js';
import { expectOneLineError, silica } from '../helpers/cli.js';

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
    expect(withHostNs(h, 7000, 10)).toBe(9500);
    expect(withHostNs({ ...h, overlapped: true }, 7000, 10)).toBe(7000);
    expect(withHostNs({ ...h, overlapped: true }, 1000, 10)).toBe(2500);
    expect(withHostNs(undefined, 7000, 10)).toBe(7000);
  });

  it('a synchronous scheduler adds its time to every decode step of a lone request, exactly', () => {
    for (const policy of ['continuous', 'rapid']) {
      const base = alone(policy);
      const slowed = alone(policy, { per_iteration_us: 1500, per_sequence_us: 200 });
      // One sequence per step: 1.5 ms + 0.2 ms more per output token after the first.
      expect(slowed.tpot_mean_ms - base.tpot_mean_ms, policy).toBeCloseTo(1.7, 6);
      // The prefill is one iteration of one sequence too.
      expect(slowed.ttft_mean_ms - base.ttft_mean_ms, policy).toBeCloseTo(1.7, 6);
    }
  });

  it('an overlapped scheduler costs nothing while the GPU step is longer, and sets the pace when it is not', () => {
    const base = alone('continuous');
    expect(base.tpot_mean_ms).toBeGreaterThan(2);
    const hidden = alone('continuous', { per_iteration_us: 1000, overlapped: true });
    expect(hidden.tpot_mean_ms).toBeCloseTo(base.tpot_mean_ms, 9);
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

  it('bad values are refused with one line naming the flag', () => {
    expectOneLineError(silica(['serve', '--host-iteration-us', '-1']), /^silica: --host-iteration-us: expected a number >= 0, got -1$/);
    expectOneLineError(silica(['serve', '--host-sequence-us', 'x']), /^silica: --host-sequence-us: expected a finite number, got "x"$/);
    expectOneLineError(silica(['serve', '--host-overlapped=maybe']), /^silica: --host-overlapped: expected true or false, got "maybe"$/);
  });
});
