import { describe, expect, it } from 'vitest';
import { parseServeConfig, resolveServe, runServe } from '../../src/sw/serving/serve.js';

/**
 * The Azure LLM inference conversation trace (data/requests, shipped with silica) replayed end to
 * end with every policy. For test time, a prefix: its first 300 requests (54 s of the trace at its
 * own timestamps, 5.5 req/s), on llama3.1-70b over 8x MI300X.
 */
describe('Azure conversation trace', () => {
  for (const [policy, policy_options] of [
    ['continuous', {}],
    ['hybrid', { chunk: 512 }],
    ['disagg', { prefill_gpus: 4, decode_gpus: 4 }],
    ['rapid', {}],
  ] as const) {
    it(`replays with ${policy}`, () => {
      const r = runServe(resolveServe(parseServeConfig({ model: 'llama3.1-70b', hw: 'mi300x', policy, policy_options, workload: 'azure-conv', requests: 300 })));
      expect(r.requests.length).toBe(300);
      expect(r.requests.every((q) => q.status === 'completed' && q.generated_tokens === q.output_tokens)).toBe(true);
      expect(r.requests[1]!.arrival_ms).toBeCloseTo(4314.579, 3);
      expect(Number(r.summary.throughput_tok_s)).toBeGreaterThan(0);
      expect(Number(r.summary.slo_attainment)).toBeGreaterThan(0);
    });
  }
});
