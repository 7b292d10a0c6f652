import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { parseServeConfig, resolveServe, runServe } from '../../src/sw/serving/serve.js';
import { generateRequests, workloadPreset } from '../../src/sw/serving/workloads.js';
import { ROOT } from '../helpers/cli.js';

/**
 * The two real request files shipped beside the Azure conversation trace: Azure's code-completion
 * trace (timestamped, bursty) and vidur's arXiv-summarisation lengths (no timestamps). The
 * expectations are read from the files here, independently of the loader.
 */
const DATA = join(ROOT, 'data', 'requests');
const N = 300;

function fileRows(file: string): string[][] {
  return readFileSync(join(DATA, file), 'utf8').trim().split(/\r?\n/).slice(1, N + 1).map((l) => l.split(','));
}

/** Coefficient of variation of the gaps between successive arrivals. */
function gapCv(arrivalsNs: number[]): { meanS: number; cv: number } {
  const gaps = arrivalsNs.slice(1).map((t, i) => (t - arrivalsNs[i]!) / 1e9);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
  return { meanS: mean, cv: sd / mean };
}

describe('azure-code: the Azure 2023 code-completion trace', () => {
  const rows = fileRows('AzureLLMInferenceTrace_code.csv');
  const requests = generateRequests(workloadPreset('azure-code'), { requests: N, seed: 1 });

  it('reads the first N requests with their own token counts and timestamps', () => {
    expect(requests.map((r) => r.promptTokens)).toEqual(rows.map((r) => Number(r[1])));
    expect(requests.map((r) => r.outputTokens)).toEqual(rows.map((r) => Number(r[2])));
    // Seconds within the minute suffice for the first two rows (same date, hour and minute).
    const secondsOf = (ts: string) => Number(ts.slice(17));
    expect(requests[0]!.arrivalNs).toBe(0);
    expect(requests[1]!.arrivalNs / 1e9).toBeCloseTo(secondsOf(rows[1]![0]!) - secondsOf(rows[0]![0]!), 6);
  });

  it('keeps the trace burstiness that makes it unlike Poisson arrivals (gap CV >> 1)', () => {
    expect(gapCv(requests.map((r) => r.arrivalNs)).cv).toBeGreaterThan(5);
    // Rescaling to a rate keeps the bursts: same shape, mean gap 1/rate.
    const scaled = gapCv(generateRequests(workloadPreset('azure-code'), { requests: N, seed: 1, ratePerS: 10 }).map((r) => r.arrivalNs));
    expect(scaled.meanS).toBeCloseTo(0.1, 6);
    expect(scaled.cv).toBeGreaterThan(5);
  });

  it('is served to completion by rapid and by hybrid batching', () => {
    for (const [policy, policy_options] of [
      ['rapid', {}],
      ['hybrid', { chunk: 512 }],
    ] as const) {
      const r = runServe(resolveServe(parseServeConfig({ model: 'llama3.1-70b', hw: 'mi300x', policy, policy_options, workload: 'azure-code', requests: N })));
      expect(r.requests.every((q) => q.status === 'completed' && q.generated_tokens === q.output_tokens)).toBe(true);
    }
  });
});

describe('arxiv-lengths: measured arXiv-summarisation lengths with Poisson arrivals', () => {
  const rows = fileRows('arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv');

  it('needs a rate: the file has no arrival times', () => {
    expect(() => generateRequests(workloadPreset('arxiv-lengths'), { requests: N, seed: 1 })).toThrow(SilicaError);
    expect(() => generateRequests(workloadPreset('arxiv-lengths'), { requests: N, seed: 1 })).toThrow(/--rate/);
  });

  it('takes the lengths in file order and draws Poisson arrivals at the rate', () => {
    const requests = generateRequests(workloadPreset('arxiv-lengths'), { requests: N, seed: 1, ratePerS: 4 });
    expect(requests.map((r) => r.promptTokens)).toEqual(rows.map((r) => Number(r[0])));
    expect(requests.map((r) => r.outputTokens)).toEqual(rows.map((r) => Number(r[1])));
    for (const r of requests) expect(r.promptTokens + r.outputTokens).toBeLessThanOrEqual(4096);
    // Exponential gaps: mean 1/rate and CV 1, each within ~4 standard errors for 299 gaps.
    const { meanS, cv } = gapCv(requests.map((r) => r.arrivalNs));
    expect(meanS).toBeGreaterThan(0.25 * 0.77);
    expect(meanS).toBeLessThan(0.25 * 1.23);
    expect(cv).toBeGreaterThan(0.75);
    expect(cv).toBeLessThan(1.25);
  });
});
