import { join } from 'node:path';
import { studyOutputs } from '../outputs.js';
import { hardwareRef } from '../../hw/config/load.js';
import { checkedHardware, hardwareOverridesSchema } from '../../hw/config/overrides.js';
import { z } from 'zod';
import { toCsv } from '../../core/io.js';
import { checkUniqueNames } from '../../core/repeats.js';
import { requestCount } from '../../sw/serving/serve.js';
import { findRequestFile } from '../../sw/serving/workloads.js';
import { rethrowTaskFailure, WorkerPool } from '../../sweep/pool.js';
import { experimentLanes, registerExperiment, type ExperimentContext } from '../registry.js';
import { resolveCase, serveTaskRunner, type RatesOutcome, type Row, type ServeCase, type ServeTask, type ServeTaskOutcome, type UnconstrainedOutcome } from './runs.js';
import { cuSplitFigure, goodputFigure, latencyFigure } from './figures.js';
import { serveReport } from './report.js';

/**
 * `kind: serve` — the concurrent prefill/decode serving study (issue 7, mission §1).
 *
 * For every model x workload: each policy's unconstrained throughput (every request queued at
 * t = 0), then a sweep of Poisson rates up to and past saturation (fractions of the best policy's
 * unconstrained request throughput, the same rates for every policy), then each policy's goodput
 * by bisection between the sweep's last rate meeting the SLO target and the first missing it. Every
 * point is an independent seeded run, so the runs go to parallel lanes (`jobs`, see runs.ts) in two
 * rounds: the unconstrained runs, then each policy's rates and goodput search. Outputs: results.csv
 * (one row per run, then one `mode: goodput` row per policy with its `goodput_req_s`, so that a
 * sweep of studies, whose table is this one, can plot goodput), goodput.csv, comparison.csv (ratios
 * against the baselines) and SVG figures.
 */
/** The policies `compare` is measured against when `baselines` is left out (the shipped study's). */
const DEFAULT_BASELINES = ['hybrid-512', 'disagg-4p4d'] as const;

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
    /** Fields laid over the hardware, e.g. {memory: {hbm: {efficiency: 0.8}}} (as in every kind). */
    hw_overrides: hardwareOverridesSchema,
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
    baselines: z.array(z.string()).default([...DEFAULT_BASELINES]),
    /** Further `silica serve` settings for every run (max_seqs, dtype, slo, ...). */
    serve: z.record(z.string(), z.unknown()).default({}),
    figures: z.boolean().default(true),
    /** Parallel lanes (this thread + workers); default: the cores available, at most 4 (1 in a sweep). */
    jobs: z.number().int().positive().optional(),
  })
  .strict()
  .superRefine(checkPolicyLabels)
  .superRefine(checkServeSettings);

/**
 * `serve` lays `silica serve` settings over every run, after the study's own fields, so a setting
 * the study makes itself would win silently: rows labelled with `models`' entry while `serve.model`
 * ran, every rate run a burst under `arrival: burst` or an offline `batch` (a goodput of the
 * highest rate probed, which no run used), a sweep axis over `seed` ignored. Those are refused,
 * naming the field that sets them; and a request trace, which replaces the workload, takes one
 * `workloads` entry (two would run the same trace under two names).
 */
const STUDY_SETS: Record<string, string> = {
  model: 'the study sets it: each entry of models',
  workload: 'the study sets it: each entry of workloads',
  hw: 'the study sets it: hw (and hw_overrides)',
  gpus: 'the study sets it: gpus',
  tp: 'the study sets it: tp',
  requests: 'the study sets it: requests',
  seed: 'the study sets it: seed',
  policy: 'the study sets it: policies',
  policy_options: 'the study sets it: policies[].options',
  rate: "the study sets every run's rate: rate_fractions of the unconstrained throughput, then the goodput search",
  batch: 'the study runs arrivals at rates; an offline batch has none',
  input_len: 'the study runs arrivals at rates; an offline batch has none',
  output_len: 'the study runs arrivals at rates; an offline batch has none',
};

function checkServeSettings(exp: { serve: Record<string, unknown>; workloads: string[] }, ctx: z.RefinementCtx): void {
  for (const [key, why] of Object.entries(STUDY_SETS)) {
    if (key in exp.serve) ctx.addIssue({ code: 'custom', path: ['serve', key], message: `not under serve (${why})`, input: exp.serve[key] });
  }
  if (exp.serve.arrival === 'burst') {
    ctx.addIssue({ code: 'custom', path: ['serve', 'arrival'], message: 'expected poisson or gamma (the study runs every request at t = 0 itself, for the unconstrained throughput; its rate runs need arrivals at a rate)', input: 'burst' });
  }
  if (exp.serve.trace !== undefined && exp.workloads.length !== 1) {
    ctx.addIssue({ code: 'custom', path: ['workloads'], message: 'expected one entry with serve.trace (the trace is the workload: every entry would run it)', input: exp.workloads });
  }
}

/**
 * `compare` and `baselines` name policies by label; a label no policy has would silently drop every
 * comparison row (an empty comparison.csv after a full study), so it fails before any run.
 */
function checkPolicyLabels(exp: { policies: Array<{ name: string }>; compare: string; baselines: string[] }, ctx: z.RefinementCtx): void {
  const names = exp.policies.map((p) => p.name);
  // Rows and comparisons find a policy by its name: two of one name would be compared with each other.
  if (!checkUniqueNames(ctx, 'policies', names)) return;
  const expected = `expected one of ${names.join(', ')} (the policies' names)`;
  if (!names.includes(exp.compare)) ctx.addIssue({ code: 'custom', path: ['compare'], message: expected, input: exp.compare });
  // Left out, `baselines` is the default, whose labels a study's own policies need not have: the
  // list is named as a whole, not an entry the file does not hold.
  const isDefault = exp.baselines.length === DEFAULT_BASELINES.length && exp.baselines.every((b, i) => b === DEFAULT_BASELINES[i]);
  if (isDefault && exp.baselines.some((b) => !names.includes(b))) {
    const message = `expected the policies to compare ${exp.compare} with, by name (${names.join(', ')}); the default, ${DEFAULT_BASELINES.join(', ')}, names policies this study does not have`;
    ctx.addIssue({ code: 'custom', path: ['baselines'], message, input: exp.baselines });
    return;
  }
  exp.baselines.forEach((b, i) => {
    if (!names.includes(b)) ctx.addIssue({ code: 'custom', path: ['baselines', i], message: expected, input: b });
  });
}

export type ServeExperiment = z.infer<typeof serveExperimentSchema>;

const round3 = (x: number) => Number(x.toPrecision(3));

const CASES_PER_LANE = 4;

/**
 * The experiment with its paths read as its file gives them: relative to the file's folder, as in
 * every experiment, never the working directory. `hw` may be a preset or a YAML path; `serve.trace`
 * a path, or the bare name of a trace beside the file or else shipped in data/requests.
 */
function withPathsFrom(exp: ServeExperiment, baseDir: string | undefined): ServeExperiment {
  const trace = exp.serve.trace;
  // The trace is the workload: its rows are labelled with the trace as the file names it.
  const labelled = typeof trace === 'string' ? { ...exp, workloads: [trace] } : exp;
  if (!baseDir) return labelled;
  // Found nowhere, the trace is named where the file's folder would have it, for the load's message.
  const serve = typeof trace === 'string' ? { ...exp.serve, trace: findRequestFile(trace, baseDir) ?? join(baseDir, trace) } : exp.serve;
  return { ...labelled, hw: hardwareRef(exp.hw, baseDir), serve };
}

/** Every (model, workload, policy) of the experiment, in the order its rows come. */
function casesOf(exp: ServeExperiment): ServeCase[] {
  return exp.models.flatMap((model) => exp.workloads.flatMap((workload) => exp.policies.map((_, policy) => ({ exp, model, workload, policy }))));
}

/**
 * Every case's config resolved, in order, before any run: a bad one (a policy option of the wrong
 * type, more prefill GPUs than the node has) fails at once, with the same message whichever lane
 * would have run it, and a sweep refuses the point before running any (about a quarter of a
 * millisecond a case once the part and model are loaded).
 */
function resolveEveryCase(exp: ServeExperiment): ServeCase[] {
  const cases = casesOf(exp);
  for (const c of cases) resolveCase(c);
  return cases;
}

export async function runServeExperiment(config: ServeExperiment, ctx: ExperimentContext) {
  const exp = withPathsFrom(config, ctx.baseDir);
  const cases = resolveEveryCase(exp);
  // A worker costs about a second of CPU before it pays (modules, a cold JIT, cost-model caches
  // of its own): by default each lane gets at least CASES_PER_LANE cases. The quickstart, whose
  // serve part has two cases, took 3.7 s with one lane and 4.2-4.7 s with two; rapid-serve.yaml
  // (24 cases) 37.6 s and 22.3 s.
  const lanes = experimentLanes(exp.jobs, ctx, cases.length, CASES_PER_LANE);
  // One pool for both rounds: a worker keeps what it cached in the first (the cost model's
  // iteration costs, the collectives' timings) for the second.
  const pool = WorkerPool.start(lanes, serveTaskRunner);
  try {
    return await runRounds(exp, cases, pool, ctx);
  } finally {
    await pool.close();
  }
}

async function runRounds(exp: ServeExperiment, cases: ServeCase[], pool: WorkerPool<ServeTask, ServeTaskOutcome>, ctx: ExperimentContext) {
  const total = cases.length * (1 + exp.rate_fractions.length + exp.goodput_probes);
  let done = 0;
  const tick = (runs: number, label: string) => ctx.progress?.(Math.min(1, (done += runs) / total), label);
  const labelOf = (c: ServeCase) => `${c.model} ${c.workload} ${exp.policies[c.policy]!.name}`;

  // Every policy's unconstrained throughput first: the sweep's rates are fractions of the best.
  const unconstrained: UnconstrainedOutcome[] = new Array(cases.length);
  await pool.run(cases.map((c, i) => ({ i, task: { phase: 'unconstrained' as const, ...c } })), (item, outcome) => {
    if (!outcome.ok) rethrowTaskFailure(outcome);
    unconstrained[item.i] = outcome as UnconstrainedOutcome;
    tick(1, `${labelOf(cases[item.i]!)}: unconstrained`);
  });
  const sweeps = new Map<string, number[]>();
  const ratesOf = (c: ServeCase) => {
    const key = `${c.model}|${c.workload}`;
    let rates = sweeps.get(key);
    if (!rates) {
      const capacity = Math.max(...cases.flatMap((d, i) => (d.model === c.model && d.workload === c.workload ? [unconstrained[i]!.throughputReqS] : [])));
      sweeps.set(key, (rates = exp.rate_fractions.map((f) => round3(f * capacity))));
    }
    return rates;
  };
  const swept: RatesOutcome[] = new Array(cases.length);
  await pool.run(cases.map((c, i) => ({ i, task: { phase: 'rates' as const, ...c, rates: ratesOf(c) } })), (item, outcome) => {
    if (!outcome.ok) rethrowTaskFailure(outcome);
    swept[item.i] = outcome as RatesOutcome;
    tick(swept[item.i]!.rows.length, `${labelOf(cases[item.i]!)}: rates and goodput`);
  });

  // Rows in the order of the cases, whatever order the lanes finished them in: per model x
  // workload, every policy's unconstrained run, then each policy's rates in the order probed.
  const rows: Row[] = [];
  const goodputRows: Row[] = [];
  const timeline: Row[] = [];
  const perGroup = exp.policies.length;
  for (let g = 0; g < cases.length; g += perGroup) {
    for (let i = g; i < g + perGroup; i++) rows.push(unconstrained[i]!.row);
    for (let i = g; i < g + perGroup; i++) {
      // A loop, not push(...xs): a long run's timeline has more entries than a call takes arguments.
      for (const r of swept[i]!.rows) rows.push(r);
      goodputRows.push(swept[i]!.goodput);
      for (const t of swept[i]!.timeline) timeline.push(t);
    }
    for (let i = g; i < g + perGroup; i++) rows.push(swept[i]!.goodputRow);
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
  check: (config, ctx) => {
    checkedHardware(config.hw, config.hw_overrides, ctx.baseDir);
    resolveEveryCase(withPathsFrom(config, ctx.baseDir));
  },
  run: (config, ctx) => runServeExperiment(config, ctx),
});
