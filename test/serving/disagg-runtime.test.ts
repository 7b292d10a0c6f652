import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { getModel } from '../../src/sw/models/index.js';
import { runServing, type ServeRunResult } from '../../src/sw/serving/engine.js';
import { defaultSlo } from '../../src/sw/serving/metrics.js';
import type { ServeSettings } from '../../src/sw/serving/policy.js';
import type { RequestSpec } from '../../src/sw/serving/requests.js';
import { generateRequests, workloadPreset } from '../../src/sw/serving/workloads.js';
import { expectOneLineError, silica } from '../helpers/cli.js';

/**
 * The disaggregated runtime's options (src/sw/serving/policies/disagg.ts): where the client's first
 * token comes from, whether a decode replica keeps decoding while KV arrives, and a fixed software
 * time per transfer. Llama-2-7B on two MI300X, one prefill GPU and one decode GPU at TP 1.
 */
const model = getModel('llama2-7b');
const hw = loadHardware('mi300x');
const settings: ServeSettings = { tp: 1, dtype: 'bf16', kvDtype: 'bf16', blockTokens: 16, gpuMemoryUtilization: 0.9, preemption: 'recompute', maxSeqs: 256, maxBatchTokens: 8192, hostLinkGbps: 50 };
type Summary = Record<string, number>;

function serve(requests: readonly RequestSpec[], options: Record<string, unknown> = {}): ServeRunResult {
  return runServing({ hw, model, gpus: 2, policy: 'disagg', policyOptions: { prefill_gpus: 1, decode_gpus: 1, ...options }, settings, slo: defaultSlo(false), requests });
}
const summary = (r: ServeRunResult) => r.summary as unknown as Summary;

const lone: RequestSpec[] = [{ id: 0, arrivalNs: 0, promptTokens: 2048, outputTokens: 17 }];

/** A long decode (request 0), then a long prompt (request 1) whose KV arrives while it decodes. */
const overlapping: RequestSpec[] = [
  { id: 0, arrivalNs: 0, promptTokens: 256, outputTokens: 400 },
  { id: 1, arrivalNs: 100e6, promptTokens: 4000, outputTokens: 4 },
];

describe('disaggregated runtime options', () => {
  it('first token from the decode pool: a lone request sees it after the transfer and one decode step, and no token is lost', () => {
    const atPrefill = serve(lone);
    const atDecode = serve(lone, { first_token: 'decode' });
    const [p, d] = [atPrefill.requests[0]!, atDecode.requests[0]!];
    expect(p.status).toBe('completed');
    expect(d.status).toBe('completed');
    expect(d.generated_tokens).toBe(17);
    expect(p.generated_tokens).toBe(17);
    // Decode produces every token: one step more than when the prefill samples the first.
    const oneStepMs = d.e2e_ms - p.e2e_ms;
    expect(oneStepMs).toBeGreaterThan(0);
    expect(oneStepMs).toBeCloseTo(d.tpot_ms, 1);
    // The KV moved holds one token fewer (the decode step writes the prompt's last entry): 512 KiB
    // less over one 48 GB/s xGMI link.
    const [transferP, transferD] = [summary(atPrefill).kv_transfer_mean_ms, summary(atDecode).kv_transfer_mean_ms];
    expect(transferP - transferD).toBeCloseTo((2 * 32 * 32 * 128 * 2) / 48e9 * 1e3, 6);
    // So the extra step is a decode step over the whole prompt, less that token's transfer; and the
    // first token waits for the transfer and that step.
    expect(d.ttft_ms - p.ttft_ms).toBeCloseTo(transferD + oneStepMs + (transferP - transferD), 6);
  });

  it('a fixed transfer overhead delays the transfer by exactly that long', () => {
    const base = summary(serve(lone));
    const slowed = summary(serve(lone, { kv_transfer_overhead_us: 2500 }));
    expect(slowed.kv_transfer_mean_ms - base.kv_transfer_mean_ms).toBeCloseTo(2.5, 9);
    expect(slowed.e2e_mean_ms - base.e2e_mean_ms).toBeCloseTo(2.5, 9);
    // The first token still comes from the prefill.
    expect(slowed.ttft_mean_ms).toBe(base.ttft_mean_ms);
  });

  it('blocking receive: the running batch stops for the KV a decode replica takes in; async keeps it decoding', () => {
    const async = serve(overlapping);
    const blocking = serve(overlapping, { kv_receive: 'blocking' });
    const stall = summary(blocking).kv_receive_stall_ms;
    expect(summary(async)).not.toHaveProperty('kv_receive_stall_ms');
    // Request 1's KV (3,999 tokens x 512 KiB for Llama-2-7B in BF16: 2.1 GB) crosses one 48 GB/s xGMI link.
    const longTransferMs = (3999 * 2 * 32 * 32 * 128 * 2) / 48e9 * 1e3;
    expect(stall).toBeGreaterThanOrEqual(longTransferMs * 0.99);
    // Request 0's worst gap holds the whole stall (plus its own step) when blocking, and no transfer when not.
    const [a0, b0] = [async.requests[0]!, blocking.requests[0]!];
    expect(b0.itl_max_ms).toBeGreaterThan(stall);
    expect(a0.itl_max_ms).toBeLessThan(longTransferMs);
    // Both runs emit every token.
    for (const r of [...async.requests, ...blocking.requests]) expect(r.generated_tokens).toBe(r.output_tokens);
  });

  it('blocking receive: the step that received KV runs before the next pull, so two receives in a row are two stalls with a token between', () => {
    // Request 2's short prompt arrives just after request 1's prefill, so it is ready while request 1's KV moves.
    const prefillEndNs = overlapping[1]!.arrivalNs + serve(overlapping).requests[1]!.ttft_ms * 1e6;
    const three = [...overlapping, { id: 2, arrivalNs: prefillEndNs + 1e6, promptTokens: 1000, outputTokens: 4 }];
    const r = serve(three, { kv_receive: 'blocking' });
    const transferMs = (prompt: number) => ((prompt - 1) * 512 * 1024) / 48e9 * 1e3;
    expect(summary(r).kv_receive_stall_ms).toBeGreaterThanOrEqual((transferMs(4000) + transferMs(1000)) * 0.99);
    // Request 0 got a token between the two stalls: its worst gap holds one of them, not both.
    expect(r.requests[0]!.itl_max_ms).toBeGreaterThan(transferMs(4000));
    expect(r.requests[0]!.itl_max_ms).toBeLessThan(transferMs(4000) + transferMs(1000));
  });

  it('under load, with every option, every request completes and blocks are conserved; stalls never exceed the transfers', () => {
    const requests = generateRequests(workloadPreset('lmsys'), { ratePerS: 8, requests: 80, seed: 5 });
    const r = serve(requests, { kv_receive: 'blocking', first_token: 'decode', kv_transfer_overhead_us: 500 });
    const s = summary(r);
    const easy = serve(requests);
    // Prompts past Llama-2-7B's 4K context are refused up front, whatever the runtime.
    const completed = r.requests.filter((q) => q.status === 'completed');
    expect(completed.length).toBeGreaterThan(60);
    expect(r.requests.filter((q) => q.status === 'rejected').map((q) => q.id)).toEqual(easy.requests.filter((q) => q.status === 'rejected').map((q) => q.id));
    expect(completed.length + r.requests.filter((q) => q.status === 'rejected').length).toBe(80);
    for (const q of completed) expect(q.generated_tokens).toBe(q.output_tokens);
    expect(s.kv_transfers).toBe(completed.length);
    expect(s.kv_transfer_bytes).toBe(completed.reduce((sum, q) => sum + (q.prompt_tokens - 1) * 512 * 1024, 0));
    // Each stall waits for the transfers pulled at one boundary: never longer than all transfers together.
    expect(s.kv_receive_stall_ms).toBeGreaterThan(0);
    expect(s.kv_receive_stall_ms).toBeLessThanOrEqual(s.kv_transfer_mean_ms * s.kv_transfers + 1e-9);
    // More waiting never makes latencies better.
    expect(s.ttft_mean_ms).toBeGreaterThan(summary(easy).ttft_mean_ms);
    expect(s.e2e_mean_ms).toBeGreaterThan(summary(easy).e2e_mean_ms);
  });

  it('moving GPUs from the decode pool to the prefill pool shortens time to first token and lengthens time per output token', () => {
    const big = getModel('llama3.1-70b');
    const requests = generateRequests(workloadPreset('lmsys'), { ratePerS: 3, requests: 120, seed: 2 });
    const split = (prefill: number) =>
      runServing({ hw, model: big, gpus: 8, policy: 'disagg', policyOptions: { prefill_gpus: prefill, decode_gpus: 8 - prefill, prefill_tp: 2, decode_tp: 2 }, settings: { ...settings, tp: 2 }, slo: defaultSlo(false), requests }).summary as unknown as Summary;
    const [p2, p4, p6] = [split(2), split(4), split(6)];
    expect(p2.requests_completed).toBe(120);
    expect(p4.ttft_mean_ms).toBeLessThan(p2.ttft_mean_ms);
    expect(p6.ttft_mean_ms).toBeLessThan(p4.ttft_mean_ms);
    expect(p4.tpot_mean_ms).toBeGreaterThan(p2.tpot_mean_ms);
    expect(p6.tpot_mean_ms).toBeGreaterThan(p4.tpot_mean_ms);
  });

  it('the CLI takes the options for disagg only, and refuses bad values in one line', async () => {
    const ok = await silica(['serve', '--model', 'llama2-7b', '--gpus', '2', '--tp', '1', '--policy', 'disagg', '--batch', '2', '--input-len', '512', '--output-len', '8', '--kv-receive', 'blocking', '--first-token', 'decode', '--kv-transfer-overhead-us', '100', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).kv_receive_stall_ms).toBeGreaterThan(0);
    expectOneLineError(await silica(['serve', '--model', 'llama2-7b', '--gpus', '2', '--tp', '1', '--policy', 'disagg', '--kv-receive', 'maybe']), /--kv-receive.*async.*blocking/);
    expectOneLineError(await silica(['serve', '--model', 'llama2-7b', '--gpus', '2', '--tp', '1', '--policy', 'disagg', '--kv-transfer-overhead-us', '-3']), /--kv-transfer-overhead-us/);
    expectOneLineError(await silica(['serve', '--model', 'llama2-7b', '--policy', 'rapid', '--first-token', 'decode']), /--first-token: expected with --policy disagg/);
  });
});
