import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { getModel } from '../../src/sw/models/index.js';
import { runServing, type ServeRunOptions } from '../../src/sw/serving/engine.js';
import { defaultSlo } from '../../src/sw/serving/metrics.js';
import { policyNames, type ServeSettings } from '../../src/sw/serving/policy.js';
import '../../src/sw/serving/policies/index.js';
import type { RequestSpec } from '../../src/sw/serving/requests.js';
import { generateRequests, workloadPreset } from '../../src/sw/serving/workloads.js';

/**
 * Engine invariants on llama3.1-70b, 8x MI300X, TP 8, with HBM shrunk to 25 GB per GPU so the KV
 * cache holds ~50K tokens: admission, preemption (recompute and swap) and rejection all happen.
 */
const model = getModel('llama3.1-70b');
const smallHw = loadHardware('mi300x', ['memory.hbm.capacity_bytes=25000000000']);
// Disaggregated pools run TP 4 (35 GB of weights per GPU): 45 GB leaves each pool ~30K tokens of KV.
const smallHwTp4 = loadHardware('mi300x', ['memory.hbm.capacity_bytes=45000000000']);
const settings = (preemption: 'recompute' | 'swap'): ServeSettings => ({ tp: 8, dtype: 'bf16', kvDtype: 'bf16', blockTokens: 16, gpuMemoryUtilization: 0.9, preemption, maxSeqs: 256, maxBatchTokens: 8192, hostLinkGbps: 50 });

function requests(): RequestSpec[] {
  const rs = generateRequests(workloadPreset('lmsys'), { ratePerS: 12, requests: 120, seed: 3 });
  // Two that cannot be served: past the model's context, and past the whole KV cache.
  rs.push({ id: rs.length, arrivalNs: rs[rs.length - 1]!.arrivalNs + 1, promptTokens: 140_000, outputTokens: 10 });
  rs.push({ id: rs.length, arrivalNs: rs[rs.length - 1]!.arrivalNs + 1, promptTokens: 100_000, outputTokens: 10 });
  return rs;
}

/** `disagg-blocking`: disagg with the runtime options that change its event order (src/sw/serving/policies/disagg.ts). */
function run(policy: string, preemption: 'recompute' | 'swap', extra: Partial<ServeRunOptions> = {}) {
  const disagg = policy.startsWith('disagg');
  const policyOptions = disagg ? { prefill_gpus: 4, decode_gpus: 4, ...(policy === 'disagg-blocking' ? { kv_receive: 'blocking', first_token: 'decode' } : {}) } : policy === 'hybrid' ? { chunk: 512 } : {};
  return runServing({ hw: disagg ? smallHwTp4 : smallHw, model, gpus: 8, policy: disagg ? 'disagg' : policy, policyOptions, settings: settings(preemption), slo: defaultSlo(false), requests: requests(), ...extra });
}

describe('serving engine invariants', () => {
  // Every registered policy (a new one is held to these without editing this file; one whose
  // options have no defaults gets them in run() above), and disagg with its other runtime.
  for (const policy of [...policyNames(), 'disagg-blocking']) {
    it(`${policy}: every request completes or is rejected with a reason; KV blocks conserved; KV under pressure`, () => {
      const r = run(policy, 'recompute');
      const rows = r.requests;
      expect(rows.length).toBe(122);
      for (const row of rows) {
        expect(['completed', 'rejected']).toContain(row.status);
        if (row.status === 'completed') expect(row.generated_tokens).toBe(row.output_tokens);
        else expect(row.reason).toMatch(/exceed .*context|KV blocks/);
      }
      expect(r.summary.requests_rejected).toBe(2);
      expect(r.summary.requests_completed).toBe(120);
      expect(r.summary.requests_unfinished).toBe(0);
      // The engine asserts conservation at the end; the KV must also have been under pressure.
      expect(Number(r.summary.kv_peak_util)).toBeGreaterThan(0.8);
      if (policy === 'continuous' || policy === 'hybrid') expect(Number(r.summary.preemptions_recompute)).toBeGreaterThan(0);
    });
  }

  it('disagg with a blocking receive and the first token from decode: swap preemption too', () => {
    const r = run('disagg-blocking', 'swap');
    expect(r.summary.requests_unfinished).toBe(0);
    expect(r.summary.requests_completed).toBe(120);
    expect(Number(r.summary.kv_receive_stall_ms)).toBeGreaterThan(0);
  });

  it('swap preemption moves KV to host memory and back', () => {
    const r = run('continuous', 'swap');
    expect(r.summary.requests_unfinished).toBe(0);
    expect(Number(r.summary.preemptions_swap)).toBeGreaterThan(0);
    expect(Number(r.summary.swap_bytes)).toBeGreaterThan(0);
  });

  it('same seed: identical per-request results, summary and Chrome trace', () => {
    const strip = (s: Record<string, unknown>) => Object.fromEntries(Object.entries(s).filter(([k]) => !/^memo_|collective_simulations/.test(k)));
    const a = run('rapid', 'recompute', { chromeTraceEvents: 50_000 });
    const b = run('rapid', 'recompute', { chromeTraceEvents: 50_000 });
    expect(JSON.stringify(b.requests)).toBe(JSON.stringify(a.requests));
    expect(strip(b.summary)).toEqual(strip(a.summary));
    expect(b.chromeTrace!.toJson()).toBe(a.chromeTrace!.toJson());
  });
});

describe('requests that arrive at the same instant', () => {
  // An offline batch: every prompt is queued before the first step, so one prefill iteration takes
  // them all (they fit max_batch_tokens), and each request's first token comes at its end.
  const hw = loadHardware('mi300x');
  const small = getModel('llama3-8b');
  const batch: RequestSpec[] = Array.from({ length: 16 }, (_, id) => ({ id, arrivalNs: 0, promptTokens: 64, outputTokens: 4 }));
  const tp1: ServeSettings = { ...settings('recompute'), tp: 1 };
  for (const policy of ['continuous', 'rapid', 'disagg']) {
    it(`${policy}: all are prefilled in one iteration, the first step after they arrive`, () => {
      const gpus = policy === 'disagg' ? 2 : 1;
      const r = runServing({ hw, model: small, gpus, policy, policyOptions: policy === 'disagg' ? { prefill_gpus: 1, decode_gpus: 1 } : {}, settings: tp1, slo: defaultSlo(false), requests: batch });
      const ttft = r.requests.map((row) => row.ttft_ms);
      expect(r.summary.requests_completed).toBe(batch.length);
      expect(Math.max(...ttft)).toBe(Math.min(...ttft));
    });
  }
});
