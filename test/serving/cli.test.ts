import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica, silicaJson } from '../helpers/cli.js';

const common = ['serve', '--model', 'llama3.1-70b', '--hw', 'mi300x', '--gpus', '8', '--tp', '8', '--rate', '2', '--requests', '40', '--seed', '1'];
const base = [...common, '--workload', 'lmsys'];

describe('silica serve', () => {
  it('prints the headline figures; --out writes per-request CSV, a Chrome trace and the resolved config; byte-identical for the same seed', () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'silica-serve-a-')), mkdtempSync(join(tmpdir(), 'silica-serve-b-'))];
    const runs = dirs.map((d) => silica([...base, '--policy', 'rapid', '--json', '--out', d]));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs[1]!.stdout).toBe(runs[0]!.stdout);
    const figures = JSON.parse(runs[0]!.stdout) as Record<string, number>;
    for (const k of ['throughput_tok_s', 'ttft_p50_ms', 'ttft_p95_ms', 'tpot_p50_ms', 'tpot_p95_ms', 'slo_attainment', 'requests_completed', 'itl_p99_ms', 'memo_hit_rate', 'cu_util', 'hbm_util', 'kv_util']) {
      expect(figures[k], k).toBeTypeOf('number');
    }
    expect(figures.requests_completed).toBe(40);
    for (const f of ['requests.csv', 'trace.json', 'summary.json', 'config.resolved.yaml', 'arm_timeline.csv']) {
      expect(existsSync(join(dirs[0]!, f)), f).toBe(true);
      expect(readFileSync(join(dirs[1]!, f), 'utf8'), f).toBe(readFileSync(join(dirs[0]!, f), 'utf8'));
    }
    expect(readFileSync(join(dirs[0]!, 'requests.csv'), 'utf8').trim().split('\n')).toHaveLength(41);
    const trace = JSON.parse(readFileSync(join(dirs[0]!, 'trace.json'), 'utf8')) as { traceEvents: Array<Record<string, unknown>> };
    const spans = trace.traceEvents.filter((e) => e.ph === 'X');
    expect(spans.length).toBeGreaterThan(100);
    expect(new Set(spans.map((e) => e.pid))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7]));
    expect(new Set(spans.map((e) => e.tid))).toEqual(new Set([1, 2]));
    for (const e of spans.slice(0, 50)) {
      expect(e.ts).toBeTypeOf('number');
      expect(e.dur as number).toBeGreaterThan(0);
    }
  });

  it('notes GPUs that serve no replica, which still count in the utilisation and energy', () => {
    const run = (gpus: string) => silica(['serve', '--model', 'llama3-8b', '--hw', 'h100-sxm', '--gpus', gpus, '--tp', '2', '--policy', 'continuous', '--workload', 'lmsys', '--rate', '2', '--requests', '20', '--json']);
    const odd = run('5');
    expect(odd.code, odd.stderr).toBe(0);
    expect(odd.stderr).toMatch(/^silica serve: note: 1 of the 5 GPUs serves no replica \(gpus_serving 4\)/m);
    const even = run('4');
    expect(even.stderr).not.toMatch(/note/);
    // The idle GPU draws static power over the run: the node's average power per GPU falls.
    const w = (r: typeof odd) => (JSON.parse(r.stdout) as Record<string, number>).avg_board_power_w!;
    expect(w(odd)).toBeLessThan(w(even));
  });

  it('runs an offline batch and reports per-token latency', () => {
    const r = silicaJson<Record<string, number>>(['serve', '--model', 'llama2-7b', '--hw', 'a100-sxm', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--batch', '1', '--input-len', '5', '--output-len', '100']);
    expect(r.per_token_latency_ms).toBeGreaterThan(8);
    expect(r.per_token_latency_ms).toBeLessThan(11);
  });

  it('--goodput searches the rate', () => {
    const r = silicaJson<{ goodput_req_s: number; limited_by: string; probes: Array<{ rate_req_s: number; slo_attainment: number; sustained: boolean }> }>([
      'serve', '--model', 'mixtral-8x7b', '--policy', 'hybrid', '--chunk', '512', '--workload', 'lmsys', '--requests', '40', '--rate', '4', '--goodput',
    ]);
    expect(r.goodput_req_s).toBeGreaterThan(0);
    // A probe above the goodput missed the target: it names which SLO did, or the node's backlog.
    expect(['ttft', 'itl', 'both', 'joint', 'backlog']).toContain(r.limited_by);
    expect(r.probes.length).toBeGreaterThan(2);
    const passing = r.probes.filter((p) => p.slo_attainment >= 0.9 && p.sustained).map((p) => p.rate_req_s);
    expect(Math.max(...passing)).toBe(r.goodput_req_s);
  });

  it('--goodput --json says sustained only of probes it judged: none with --no-steady-state, every one without', () => {
    type Probes = { probes: Array<{ rate_req_s: number; sustained?: boolean }> };
    const small = ['serve', '--model', 'llama2-7b', '--hw', 'h100-sxm', '--gpus', '1', '--tp', '1', '--requests', '30', '--goodput', '--json'];
    // A plain run has no backlog check (backlog.ts): its probes were not judged, not found to keep up.
    const plain = silicaJson<Probes>([...small, '--no-steady-state']);
    expect(plain.probes.length).toBeGreaterThan(2);
    for (const p of plain.probes) expect(p, `${p.rate_req_s} req/s`).not.toHaveProperty('sustained');
    const steady = silicaJson<Probes>(small);
    for (const p of steady.probes) expect(p.sustained, `${p.rate_req_s} req/s`).toBeTypeOf('boolean');
  });

  it('fails with one line on bad input', () => {
    expectOneLineError(silica([...base, '--policy', 'nope']), /--policy: unknown policy "nope"/);
    expectOneLineError(silica([...base, '--batch', '4']), /: --batch, --input-len and --output-len: expected all three \(offline batch\) or none$/);
    expectOneLineError(silica([...base, '--policy', 'hybrid', '--prefill-gpus', '4']), /: --prefill-gpus: expected with --policy disagg, got --policy hybrid$/);
    expectOneLineError(silica([...common, '--workload', 'nope']), /--workload: unknown workload/);
  });
});
