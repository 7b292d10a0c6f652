import { studyOutputs } from '../outputs.js';
import { z } from 'zod';
import { toCsv } from '../../core/io.js';
import { parseServeConfig, requestCount, resolveServe, runServe, searchGoodput, type ServeOutcome } from '../../sw/serving/serve.js';
import { registerExperiment, type ExperimentContext } from '../registry.js';
import { cuSplitFigure, goodputFigure, latencyFigure } from './figures.js';
import { serveReport } from './report.js';

/**
 * `kind: serve` — the concurrent prefill/decode serving study (issue 7, mission §1).
 *
 * For every model x workload: each policy's unconstrained throughput (every request queued at
 * t = 0), then a sweep of Poisson rates up to and past saturation (fractions of the best policy's
 * unconstrained request throughput, the same rates for every policy), then each policy's goodput
 * by bisection between the sweep's last rate meeting the SLO target and the first missing it. Every
 * point is an independent seeded run. Outputs: results.csv (one row per run), goodput.csv,
 * comparison.csv (ratios against the baselines) and SVG figures.
 */
const policySchema = z
  .object({
    /** Label in tables and figures, e.g. hybrid-512. */
    name: z.string().min(1),
    policy: z.string().min(1),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const serveExperimentSchema = z
  .object({
    kind: z.literal('serve'),
    description: z.string().default(''),
    hw: z.string().default('mi300x'),
    gpus: z.number().int().positive().default(8),
    tp: z.number().int().positive().default(8),
    models: z.array(z.string()).min(1),
    workloads: z.array(z.string()).min(1),
    policies: z.array(policySchema).min(1),
    /** Sweep rates, as fractions of the best policy's unconstrained request throughput. */
    rate_fractions: z.array(z.number().positive()).min(1).default([0.25, 0.5, 0.75, 1, 1.25, 1.5]),
    requests: requestCount().default(400),
    seed: z.number().int().default(1),
    /** Bisection steps after the sweep brackets each policy's goodput. */
    goodput_probes: z.number().int().nonnegative().default(4),
    /** The policy compared against the baselines (labels). */
    compare: z.string().default('rapid'),
    baselines: z.array(z.string()).default(['hybrid-512', 'disagg-4p4d']),
    /** Further `silica serve` settings for every run (max_seqs, dtype, slo, ...). */
    serve: z.record(z.string(), z.unknown()).default({}),
    figures: z.boolean().default(true),
  })
  .strict()
  .superRefine(checkPolicyLabels);

/**
 * `compare` and `baselines` name policies by label; a label no policy has would silently drop every
 * comparison row (an empty comparison.csv after a full study), so it fails before any run.
 */
function checkPolicyLabels(exp: { policies: Array<{ name: string }>; compare: string; baselines: string[] }, ctx: z.RefinementCtx): void {
  const names = exp.policies.map((p) => p.name);
  const expected = `expected one of ${names.join(', ')} (the policies' names)`;
  if (!names.includes(exp.compare)) ctx.addIssue({ code: 'custom', path: ['compare'], message: expected, input: exp.compare });
  exp.baselines.forEach((b, i) => {
    if (!names.includes(b)) ctx.addIssue({ code: 'custom', path: ['baselines', i], message: expected, input: b });
  });
}

export type ServeExperiment = z.infer<typeof serveExperimentSchema>;
type Row = Record<string, string | number | boolean>;

/**
 * The run's simulated figures. Not the host-side statistics beside them (the cost model's memo hit
 * rate, collective simulations run): those count what this process had cached from earlier runs,
 * so a sweep's table would change with the lane that ran the point and what it ran before.
 */
const NUMERIC_KEEP = /^(requests_|throughput|total_throughput|ttft_|tpot_|itl_|e2e_|slo_|cu_util|hbm_util|kv_|preemptions|arm_switches|kv_transfer|duration_s)/;

function rowOf(base: Row, s: Record<string, number | string>): Row {
  const row: Row = { ...base };
  for (const [k, v] of Object.entries(s)) if (NUMERIC_KEEP.test(k) && typeof v === 'number') row[k] = v;
  return row;
}

const round3 = (x: number) => Number(x.toPrecision(3));

/**
 * Unconstrained throughput of a burst run (every request queued at t = 0): requests and output
 * tokens completed by the time 80% of the requests are done, over that time. Leaving out the last
 * fifth keeps the drain (a handful of long requests finishing alone) from diluting what the system
 * sustains while it is saturated.
 */
function unconstrained(out: ServeOutcome): { throughput_req_s: number; throughput_tok_s: number } {
  const done = out.requests.filter((q) => q.status === 'completed').map((q) => ({ end: q.arrival_ms + q.e2e_ms, tokens: q.output_tokens }));
  done.sort((a, b) => a.end - b.end);
  const n = Math.max(1, Math.ceil(0.8 * done.length));
  const head = done.slice(0, n);
  const t = head[head.length - 1]?.end ?? NaN;
  return { throughput_req_s: (1000 * n) / t, throughput_tok_s: (1000 * head.reduce((a, q) => a + q.tokens, 0)) / t };
}

export async function runServeExperiment(exp: ServeExperiment, ctx: ExperimentContext) {
  const rows: Row[] = [];
  const goodputRows: Row[] = [];
  const timeline: Row[] = [];
  const sweeps = new Map<string, number[]>();
  const total = exp.models.length * exp.workloads.length * exp.policies.length * (1 + exp.rate_fractions.length + exp.goodput_probes);
  let done = 0;
  const tick = (label: string) => ctx.progress?.(Math.min(1, ++done / total), label);
  for (const model of exp.models) {
    for (const workload of exp.workloads) {
      const base = { model, workload, hw: exp.hw, gpus: exp.gpus, tp: exp.tp, requests: exp.requests, seed: exp.seed, ...exp.serve };
      const resolved = exp.policies.map((p) => ({ p, r: resolveServe(parseServeConfig({ ...base, policy: p.policy, policy_options: p.options }, `serve experiment: ${p.name}`)) }));
      const burst = resolved.map(({ p, r }) => {
        const out = runServe({ ...r, config: { ...r.config, arrival: 'burst' } });
        tick(`${model} ${workload} ${p.name}: unconstrained`);
        const u = unconstrained(out);
        rows.push(rowOf({ model, workload, policy: p.name, policy_kind: p.policy, mode: 'unconstrained', rate_req_s: NaN }, { ...out.summary, ...u }));
        return u;
      });
      const capacity = Math.max(...burst.map((b) => b.throughput_req_s));
      const rates = exp.rate_fractions.map((f) => round3(f * capacity));
      sweeps.set(`${model}|${workload}`, rates);
      for (const { p, r } of resolved) {
        const at = new Map<number, ServeOutcome>();
        const probe = (rate: number) => {
          let out = at.get(rate);
          if (!out) {
            out = runServe(r, { ratePerS: rate });
            at.set(rate, out);
            tick(`${model} ${workload} ${p.name}: ${rate} req/s`);
            rows.push(rowOf({ model, workload, policy: p.name, policy_kind: p.policy, mode: 'rate', rate_req_s: rate }, out.summary));
          }
          return { attainment: Number(out.summary.slo_attainment), summary: out.summary };
        };
        const attain = rates.map((rate) => probe(rate).attainment >= r.slo.targetShare);
        // Bracket from the sweep: the last passing rate below the first failing one.
        const firstFail = attain.indexOf(false);
        const g =
          firstFail < 0
            ? searchGoodput(probe, { target: r.slo.targetShare, startRate: rates[rates.length - 1]!, maxProbes: exp.goodput_probes + 2, relTolerance: 0.05 })
            : firstFail === 0
              ? searchGoodput(probe, { target: r.slo.targetShare, startRate: rates[0]! / 2, maxProbes: exp.goodput_probes, relTolerance: 0.05 })
              : searchGoodput(probe, { target: r.slo.targetShare, startRate: rates[firstFail - 1]!, bracket: { lo: rates[firstFail - 1]!, hi: rates[firstFail]! }, maxProbes: exp.goodput_probes, relTolerance: 0.05 });
        const maxProbed = Math.max(...at.keys());
        goodputRows.push({ model, workload, policy: p.name, goodput_req_s: g.goodput_req_s, lower_bound: g.goodput_req_s >= maxProbed, target_share: r.slo.targetShare, itl_slo_ms: r.slo.itlMs });
        // The rapid run nearest saturation shows the ARM at work.
        const tl = at.get(rates[Math.min(rates.length - 1, Math.max(0, exp.rate_fractions.findIndex((f) => f >= 1)))]!)?.timeline;
        if (p.policy === 'rapid' && tl) for (const t of tl) timeline.push({ model, workload, ...t });
      }
    }
  }
  const comparison = compare(exp, rows, goodputRows, sweeps);
  const files: string[] = [];
  if (ctx.outDir) {
    const { write, svg } = studyOutputs(ctx.outDir, files);
    write('goodput.csv', toCsv(goodputRows));
    write('comparison.csv', toCsv(comparison.rows));
    write(
      'report.md',
      serveReport({ models: exp.models, workloads: exp.workloads, policies: exp.policies.map((p) => p.name), compare: exp.compare, baselines: exp.baselines, rows, goodput: goodputRows, comparison: comparison.rows, summary: comparison.summary }),
    );
    if (timeline.length) write('cu_split.csv', toCsv(timeline));
    if (exp.figures) {
      await svg('latency_ttft.svg', latencyFigure(rows, 'ttft', 'TTFT p50 (solid) / p95 (dashed) vs request rate'));
      await svg('latency_itl.svg', latencyFigure(rows, 'itl', 'ITL p50 (solid) / p95 (dashed) vs request rate'));
      await svg('goodput.svg', goodputFigure(goodputRows, `Goodput: highest rate with >= ${goodputRows[0]?.target_share ?? 0.9} of requests meeting TTFT and ITL SLOs`));
      if (timeline.length) await svg('cu_split.svg', cuSplitFigure(timeline, 'rapid: CU split chosen by the ARM (run nearest saturation)'));
    }
  }
  return { rows, summary: comparison.summary, files };
}

/** Ratios of the compared policy against each baseline, per model x workload, and their averages. */
function compare(exp: ServeExperiment, rows: Row[], goodput: Row[], sweeps: Map<string, number[]>) {
  const out: Row[] = [];
  const find = (model: string, workload: string, policy: string, mode: string) => rows.filter((r) => r.model === model && r.workload === workload && r.policy === policy && r.mode === mode);
  const gp = (model: string, workload: string, policy: string) => Number(goodput.find((g) => g.model === model && g.workload === workload && g.policy === policy)?.goodput_req_s ?? NaN);
  for (const model of exp.models) {
    for (const workload of exp.workloads) {
      const mine = find(model, workload, exp.compare, 'unconstrained')[0];
      for (const b of exp.baselines) {
        const theirs = find(model, workload, b, 'unconstrained')[0];
        if (!mine || !theirs) continue;
        // Latencies compared at the sweep's middle rate (the same rate for both policies).
        const rates = sweeps.get(`${model}|${workload}`) ?? [];
        const mid = rates[Math.floor((rates.length - 1) / 2)];
        const myMid = find(model, workload, exp.compare, 'rate').find((r) => r.rate_req_s === mid);
        const theirMid = find(model, workload, b, 'rate').find((r) => r.rate_req_s === mid);
        out.push({
          model,
          workload,
          policy: exp.compare,
          baseline: b,
          throughput_ratio: Number(mine.throughput_req_s) / Number(theirs.throughput_req_s),
          goodput_ratio: gp(model, workload, exp.compare) / gp(model, workload, b),
          ttft_p95_ratio_at_mid_rate: Number(theirMid?.ttft_p95_ms) / Number(myMid?.ttft_p95_ms),
          itl_p95_ms_policy: Number(myMid?.itl_p95_ms),
          itl_p95_ms_baseline: Number(theirMid?.itl_p95_ms),
          mid_rate_req_s: mid ?? NaN,
        });
      }
    }
  }
  const summary: Record<string, unknown> = {};
  const mean = (xs: number[]) => {
    const f = xs.filter((x) => Number.isFinite(x));
    return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
  };
  for (const b of exp.baselines) {
    const rs = out.filter((r) => r.baseline === b);
    const tr = rs.map((r) => Number(r.throughput_ratio));
    const gr = rs.map((r) => Number(r.goodput_ratio));
    summary[`${exp.compare}_vs_${b}`] = {
      throughput_ratio_avg: mean(tr),
      throughput_ratio_max: Math.max(...tr.filter(Number.isFinite)),
      goodput_ratio_avg: mean(gr),
      goodput_ratio_max: Math.max(...gr.filter(Number.isFinite)),
      goodput_higher_everywhere: gr.every((x) => x > 1),
      baseline_itl_p95_lower_everywhere: rs.every((r) => Number(r.itl_p95_ms_baseline) < Number(r.itl_p95_ms_policy)),
    };
  }
  return { rows: out, summary };
}

registerExperiment({
  name: 'serve',
  description: 'LLM serving study: policies x models x workloads; unconstrained throughput, latency vs rate, goodput under TTFT/ITL SLOs',
  schema: serveExperimentSchema,
  run: (config, ctx) => runServeExperiment(config, ctx),
});
