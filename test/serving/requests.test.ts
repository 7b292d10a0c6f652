import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { azureTimestampS, loadRequestFile, requestsFromTrace, traceRatePerS } from '../../src/sw/serving/requests.js';
import { dataFile, generateRequests, workloadPreset, WORKLOAD_PRESETS } from '../../src/sw/serving/workloads.js';

const tmp = mkdtempSync(join(tmpdir(), 'silica-serving-req-'));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe('request traces', () => {
  it('reads the shipped Azure conversation trace (7 fractional digits, no trailing newline)', () => {
    const t = loadRequestFile(dataFile('AzureLLMInferenceTrace_conv.csv'));
    expect(t.format).toBe('azure');
    expect(t.promptTokens.length).toBe(19366);
    expect(t.promptTokens[0]).toBe(374);
    expect(t.outputTokens[0]).toBe(44);
    // Second request 4.314579 s after the first (the vidur-processed copy of the same data).
    expect(t.arrivalS![1]).toBeCloseTo(4.314579, 6);
    expect(traceRatePerS(t)).toBeCloseTo(5.53, 2);
    const last = t.promptTokens.length - 1;
    expect([t.promptTokens[last], t.outputTokens[last]]).toEqual([197, 183]);
  });

  it('parses timestamps without losing the 7th digit', () => {
    expect(azureTimestampS('2023-11-16 18:15:46.6805900', 'x') - azureTimestampS('2023-11-16 18:15:46.0000000', 'x')).toBeCloseTo(0.68059, 6);
  });

  it('reads splitwise, length-only and JSONL files', () => {
    const sw = loadRequestFile(file('sw.csv', 'arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,10,2\n0.5,20,3\n'));
    expect(sw.format).toBe('splitwise');
    expect(requestsFromTrace(sw, {}).map((r) => r.arrivalNs)).toEqual([0, 5e8]);
    // Rescaled to 4 req/s: the gap of 0.5 s becomes 0.25 s.
    expect(requestsFromTrace(sw, { ratePerS: 4 })[1]!.arrivalNs).toBe(2.5e8);
    const lengths = loadRequestFile(file('len.csv', 'num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n100,5,105,20\n'));
    expect(lengths.arrivalS).toBeUndefined();
    const j = loadRequestFile(file('r.jsonl', '{"arrival_s": 1, "prompt_tokens": 7, "output_tokens": 3}\n{"arrival_s": 1.5, "prompt_tokens": 8, "output_tokens": 4}\n'));
    expect(requestsFromTrace(j, {}).map((r) => [r.arrivalNs, r.promptTokens, r.outputTokens])).toEqual([
      [0, 7, 3],
      [5e8, 8, 4],
    ]);
  });

  it('rejects bad files with one-line errors naming file, line and field', () => {
    expect(() => loadRequestFile(file('bad.csv', 'a,b\n1,2\n'))).toThrow(/bad\.csv: header: expected TIMESTAMP/);
    expect(() => loadRequestFile(file('bad2.csv', 'arrived_at,num_prefill_tokens,num_decode_tokens\n0,abc,1\n'))).toThrow(/bad2\.csv: line 2: num_prefill_tokens: expected a whole number/);
    expect(() => loadRequestFile(file('bad3.csv', 'arrived_at,num_prefill_tokens,num_decode_tokens\n1,1,1\n0,1,1\n'))).toThrow(/non-decreasing/);
    // The message names the file's line (the header and blank lines count) and the values as written.
    expect(() => loadRequestFile(file('bad4.csv', 'arrived_at,num_prefill_tokens,num_decode_tokens\n1,1,1\n\n2,1,1\n0.5,1,1\n'))).toThrow(/bad4\.csv: line 5: arrived_at: expected arrivals in time order \(non-decreasing\), got "0\.5" after line 4's "2"$/);
    expect(() => loadRequestFile(file('bad5.jsonl', '{"prompt_tokens":1,"output_tokens":1,"arrival_s":2}\n{"prompt_tokens":1,"output_tokens":1,"arrival_s":0}\n'))).toThrow(/bad5\.jsonl: line 2: arrival_s: expected arrivals in time order \(non-decreasing\), got "0" after line 1's "2"$/);
    expect(() => loadRequestFile(join(tmp, 'missing.csv'))).toThrow(SilicaError);
  });
});

describe('synthetic workloads', () => {
  it('is deterministic per seed and arrivals scale exactly with the rate', () => {
    const w = workloadPreset('lmsys');
    const a = generateRequests(w, { ratePerS: 2, requests: 200, seed: 7 });
    const b = generateRequests(w, { ratePerS: 2, requests: 200, seed: 7 });
    const c = generateRequests(w, { ratePerS: 4, requests: 200, seed: 7 });
    expect(a).toEqual(b);
    expect(c.map((r) => r.promptTokens)).toEqual(a.map((r) => r.promptTokens));
    expect(Math.abs(c[100]!.arrivalNs * 2 - a[100]!.arrivalNs)).toBeLessThanOrEqual(2);
  });

  it('presets have the prompt sizes of the published mixes (~2K, ~8K, ~20K)', () => {
    const mean = (name: string) => {
      const rs = generateRequests(WORKLOAD_PRESETS[name]!, { ratePerS: 1, requests: 4000, seed: 1 });
      return rs.reduce((s, r) => s + r.promptTokens, 0) / rs.length;
    };
    expect(mean('lmsys')).toBeGreaterThan(1800);
    expect(mean('lmsys')).toBeLessThan(2300);
    expect(mean('arxiv')).toBeGreaterThan(7000);
    expect(mean('arxiv')).toBeLessThan(9000);
    expect(mean('loogle')).toBeGreaterThan(18000);
    expect(mean('loogle')).toBeLessThan(22000);
  });

  it('gamma arrivals with cv > 1 are burstier than Poisson', () => {
    const cv = (xs: number[]) => {
      const gaps = xs.slice(1).map((x, i) => x - xs[i]!);
      const m = gaps.reduce((a, b) => a + b, 0) / gaps.length;
      return Math.sqrt(gaps.reduce((a, g) => a + (g - m) ** 2, 0) / gaps.length) / m;
    };
    const w = workloadPreset('lmsys');
    const p = generateRequests(w, { ratePerS: 1, requests: 3000, seed: 3 }).map((r) => r.arrivalNs);
    const g = generateRequests(w, { ratePerS: 1, requests: 3000, seed: 3, arrival: { kind: 'gamma', cv: 3 } }).map((r) => r.arrivalNs);
    expect(cv(p)).toBeCloseTo(1, 0);
    expect(cv(g)).toBeGreaterThan(2);
  });
});
