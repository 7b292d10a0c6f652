import { z } from 'zod';
import { SilicaError } from '../../core/errors.js';
import { validate } from '../../core/yaml-config.js';
import { loadHardware } from '../../hw/config/load.js';
import { checkDtypeRate } from '../../hw/gpu/kernel-timing.js';
import { DTYPES, type HardwareConfig } from '../../hw/config/schema.js';
import { getModel, type ModelSpec } from '../models/index.js';
import { runServing, type ServeRunResult } from './engine.js';
import { defaultSlo, type SloConfig } from './metrics.js';
import { policyKind, policyNames, type ServeSettings } from './policy.js';
import type { RequestSpec } from './requests.js';
import { generateRequests, MAX_SERVE_REQUESTS, workloadPreset, type ArrivalProcess, type Workload } from './workloads.js';
import { maxOf } from '../../core/extent.js';
import { fitPlan, steadyPlan, warmupS, type SteadyPlan } from './steady-state.js';

/** A request count a run can hold in memory (see MAX_SERVE_REQUESTS). */
export const requestCount = () => z.number().int().positive().max(MAX_SERVE_REQUESTS, { error: `expected at most ${MAX_SERVE_REQUESTS} (the most one run simulates)` });

/**
 * One serving run, fully described by one validated config (what `silica serve` flags and the
 * `serve` experiment rows resolve to, and what every output directory echoes back).
 */

export const sloSchema = z
  .object({
    ttft_ms_per_1k_tokens: z.number().positive().default(1000),
    ttft_floor_ms: z.number().nonnegative().default(100),
    /** Default: 100 ms for dense models, 50 ms for mixture-of-experts (the published study's SLOs). */
    itl_ms: z.number().positive().optional(),
    itl_metric: z.enum(['tpot', 'max']).default('tpot'),
    target_share: z.number().gt(0).lte(1).default(0.9),
  })
  .strict();

export const serveConfigSchema = z
  .object({
    model: z.string().min(1).default('llama3.1-70b'),
    hw: z.string().min(1).default('mi300x'),
    /** Hardware overlays (`--set memory.hbm.efficiency=0.8`). */
    hw_set: z.array(z.string()).default([]),
    gpus: z.number().int().positive().default(8),
    tp: z.number().int().positive().default(8),
    policy: z.string().min(1).default('rapid'),
    policy_options: z.record(z.string(), z.unknown()).default({}),
    /** A preset (workloadNames(): lmsys, arxiv, loogle, azure-conv, azure-code, arxiv-lengths) unless `trace` is given. */
    workload: z.string().default('lmsys'),
    /** CSV or JSONL request file (Azure, splitwise, arXiv-lengths, JSONL formats). */
    trace: z.string().optional(),
    /** Requests per second; rescales a timestamped trace's time axis to this mean rate. */
    rate: z.number().positive().optional(),
    arrival: z.enum(['poisson', 'gamma', 'burst']).optional(),
    /** Coefficient of variation of Gamma inter-arrival times. */
    arrival_cv: z.number().positive().default(2),
    requests: requestCount().default(1000),
    /**
     * Measure `requests` in steady state (steady-state.ts): warm-up arrivals before them, cool-down
     * arrivals after, the run ending when the measured ones are done. Default: on for goodput
     * probes and the serving study's rate runs, off for one run (every request measured).
     */
    steady_state: z.boolean().optional(),
    seed: z.number().int().default(1),
    dtype: z.enum(DTYPES).default('bf16'),
    kv_dtype: z.enum(DTYPES).optional(),
    block_tokens: z.number().int().positive().default(16),
    gpu_memory_utilization: z.number().gt(0).lte(1).default(0.9),
    preemption: z.enum(['recompute', 'swap']).default('recompute'),
    max_seqs: z.number().int().positive().default(256),
    max_batch_tokens: z.number().int().positive().default(8192),
    host_link_gbps: z.number().positive().default(50),
    /**
     * The engine's host time per iteration (host-overhead.ts): none unless given, since the engine
     * and its CPU decide it; `overlapped` hides it behind the previous iteration's GPU work.
     */
    host_overhead: z
      .object({
        per_iteration_us: z.number().nonnegative().default(0),
        per_sequence_us: z.number().nonnegative().default(0),
        overlapped: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    slo: sloSchema.prefault({}),
    /** Offline batch (latency benchmark): `batch` requests of fixed lengths, all at t = 0. */
    batch: requestCount().optional(),
    input_len: z.number().int().positive().optional(),
    output_len: z.number().int().positive().optional(),
    /** Chrome-trace events kept when a trace is written. */
    trace_max_events: z.number().int().positive().default(200_000),
  })
  .strict();

export type ServeConfig = z.infer<typeof serveConfigSchema>;

/**
 * How the user wrote a config field, where that is not the field itself: `silica serve` takes the
 * config as flags, and its messages name the flag (`--max-seqs`, not `silica serve: max_seqs`).
 * Policy options are named with a `policy_options.` prefix.
 */
export type FieldNames = (field: string) => string;

/** `where` names the source in messages (a file's context); `flagOf`, when given, names fields instead. */
export function parseServeConfig(raw: unknown, where = 'serve config', flagOf?: FieldNames): ServeConfig {
  const c = validate(serveConfigSchema, raw, where, serveConfigSchema, flagOf);
  const offline = [c.batch, c.input_len, c.output_len].filter((v) => v !== undefined).length;
  if (offline !== 0 && offline !== 3) {
    const [batch, inputLen, outputLen] = ['batch', 'input_len', 'output_len'].map(flagOf ?? ((f) => f));
    throw new SilicaError(`${flagOf ? '' : `${where}: `}${batch}, ${inputLen} and ${outputLen}: expected all three (offline batch) or none`);
  }
  const kind = policyKind(c.policy);
  if (!kind) throw new SilicaError(`--policy: unknown policy "${c.policy}" (expected one of ${policyNames().join(', ')})`);
  // Checked here too (runServing checks them again), so a bad option fails before a study's first run.
  const optionsWhere = `policy ${c.policy} options`;
  validate(kind.options, c.policy_options, optionsWhere, kind.options, flagOf && ((f) => flagOf(`policy_options.${f}`)));
  return c;
}

export interface ResolvedServe {
  config: ServeConfig;
  hw: HardwareConfig;
  model: ModelSpec;
  settings: ServeSettings;
  slo: SloConfig;
  workload: Workload;
}

export function resolveServe(c: ServeConfig): ResolvedServe {
  const hw = loadHardware(c.hw, c.hw_set);
  const model = getModel(c.model);
  const maxGpus = hw.interconnect.gpus_per_node * hw.interconnect.nodes;
  // Worded as \`silica collective\`, \`replay\` and \`t3\` word it, with the way out.
  if (c.gpus > maxGpus) {
    throw new SilicaError(
      `--gpus: ${hw.name} has ${hw.interconnect.gpus_per_node} GPUs per node x ${hw.interconnect.nodes} node(s) = ${maxGpus}, got ${c.gpus} (set interconnect.nodes for a multi-node system)`,
    );
  }
  // Serving is prefill then token-by-token decode: an encoder has no decode to serve.
  if (!model.causal) throw new SilicaError(`--model ${model.name}: an encoder-only model cannot be served (no decode)`);
  checkDtypeRate(hw, c.dtype, '--dtype');
  // An offline batch is one request shape: past the context, every request would be rejected.
  if (c.batch !== undefined && c.input_len! + c.output_len! > model.maxSeq) {
    throw new SilicaError(`--input-len + --output-len: expected at most ${model.name}'s context of ${model.maxSeq} tokens, got ${c.input_len} + ${c.output_len} = ${c.input_len! + c.output_len!}`);
  }
  const policy = policyKind(c.policy);
  policy?.check?.(validate(policy.options, c.policy_options, `policy ${c.policy} options`), { gpus: c.gpus, tp: c.tp, model });
  const settings: ServeSettings = {
    tp: c.tp,
    dtype: c.dtype,
    kvDtype: c.kv_dtype ?? c.dtype,
    blockTokens: c.block_tokens,
    gpuMemoryUtilization: c.gpu_memory_utilization,
    preemption: c.preemption,
    maxSeqs: c.max_seqs,
    maxBatchTokens: c.max_batch_tokens,
    hostLinkGbps: c.host_link_gbps,
    ...(c.host_overhead.per_iteration_us > 0 || c.host_overhead.per_sequence_us > 0
      ? { host: { perIterationNs: c.host_overhead.per_iteration_us * 1e3, perSequenceNs: c.host_overhead.per_sequence_us * 1e3, overlapped: c.host_overhead.overlapped } }
      : {}),
  };
  const d = defaultSlo(!!model.experts);
  const slo: SloConfig = {
    ttftMsPer1kPromptTokens: c.slo.ttft_ms_per_1k_tokens,
    ttftFloorMs: c.slo.ttft_floor_ms,
    itlMs: c.slo.itl_ms ?? d.itlMs,
    itlMetric: c.slo.itl_metric,
    targetShare: c.slo.target_share,
  };
  const workload: Workload = c.trace ? { kind: 'trace', name: c.trace, file: c.trace, arrival: { kind: 'poisson' } } : workloadPreset(c.workload);
  return { config: c, hw, model, settings, slo, workload };
}

export function arrivalOf(c: ServeConfig): ArrivalProcess | undefined {
  if (c.batch !== undefined) return { kind: 'burst' };
  if (!c.arrival) return undefined;
  return c.arrival === 'gamma' ? { kind: 'gamma', cv: c.arrival_cv } : { kind: c.arrival };
}

export function requestsOf(r: ResolvedServe, ratePerS = r.config.rate, requests = r.config.requests): RequestSpec[] {
  const c = r.config;
  if (c.batch !== undefined) {
    return Array.from({ length: c.batch }, (_, id) => ({ id, arrivalNs: 0, promptTokens: c.input_len!, outputTokens: c.output_len! }));
  }
  return generateRequests(r.workload, { ratePerS, requests, seed: c.seed, arrival: arrivalOf(c) });
}

/**
 * The requests of a steady-state run at `ratePerS` and which of them are measured: the config's
 * `requests`, with warm-up and cool-down arrivals around them (steady-state.ts).
 */
export function steadyRequestsOf(r: ResolvedServe, ratePerS: number): SteadyRun {
  const c = r.config;
  const planned = steadyPlan(c.requests, ratePerS, warmupS(r.slo, requestsOf(r, ratePerS)));
  const total = Math.min(MAX_SERVE_REQUESTS, planned.warmupRequests + planned.measuredRequests + planned.cooldownRequests);
  const requests = requestsOf(r, ratePerS, total);
  const plan = fitPlan(planned, requests.length);
  // Throughput is read between the first and the last measured arrival: one gives no window.
  if (plan.measuredRequests < MIN_STEADY_MEASURED) {
    const source = c.trace ? '--trace' : '--workload';
    throw new SilicaError(`${source}: expected at least ${MIN_STEADY_MEASURED} requests in ${c.trace ?? c.workload} for a steady-state run (one measured request has no arrival window to read throughput over), got ${requests.length}`);
  }
  return { requests, plan, planned };
}

/** The fewest measured requests of a steady-state run: its throughput is read between the first and the last one's arrival. */
export const MIN_STEADY_MEASURED = 2;

/**
 * A steady-state run's requests and which are measured (`plan`); `planned` is what the rate and
 * the warm-up asked for, more than `plan` when fewer requests could be drawn (a short trace, or
 * MAX_SERVE_REQUESTS).
 */
export interface SteadyRun {
  requests: RequestSpec[];
  plan: SteadyPlan;
  planned: SteadyPlan;
}

/** Whether a run can be measured in steady state, and the flag to name when it cannot. */
function steadyRefusal(c: ServeConfig, ratePerS: number | undefined): string | undefined {
  if (c.batch !== undefined) return 'not with an offline --batch (every request arrives at t = 0)';
  if (c.arrival === 'burst') return 'not with --arrival burst (every request arrives at t = 0)';
  if (ratePerS === undefined) return 'needs --rate (the warm-up is a number of arrivals at the rate)';
  return undefined;
}

export interface ServeOutcome extends ServeRunResult {
  rate_req_s?: number;
  /** A steady-state run's plan (steady-state.ts): what it measured, and what it had planned. */
  steady?: { plan: SteadyPlan; planned: SteadyPlan };
}

/**
 * Whether runs at a searched or swept rate (goodput probes, the serving study's rate runs) are
 * measured in steady state: yes unless the config's steady_state says not.
 */
export function steadyAtRates(c: ServeConfig): boolean {
  return c.steady_state ?? true;
}

/**
 * One run. `steady` (default: the config's steady_state, else off) measures the config's requests
 * in steady state; goodput probes and the serving study's rate runs turn it on (steadyAtRates).
 */
export function runServe(r: ResolvedServe, o: { ratePerS?: number; steady?: boolean; chromeTrace?: boolean; progress?: (done: number, total: number) => void } = {}): ServeOutcome {
  const rate = o.ratePerS ?? r.config.rate;
  const steady = o.steady ?? r.config.steady_state ?? false;
  const refusal = steady ? steadyRefusal(r.config, rate) : undefined;
  if (refusal) throw new SilicaError(`--steady-state: ${refusal}`);
  if (steady && r.config.requests < MIN_STEADY_MEASURED) {
    throw new SilicaError(`--requests: expected at least ${MIN_STEADY_MEASURED} in steady state (throughput is read between the first and the last measured arrival), got ${r.config.requests}`);
  }
  const run = steady ? steadyRequestsOf(r, rate!) : undefined;
  const requests = run?.requests ?? requestsOf(r, rate);
  const result = runServing({
    hw: r.hw,
    model: r.model,
    gpus: r.config.gpus,
    policy: r.config.policy,
    policyOptions: r.config.policy_options,
    settings: r.settings,
    slo: r.slo,
    requests,
    chromeTraceEvents: o.chromeTrace ? r.config.trace_max_events : undefined,
    progress: o.progress,
    measured: run && { first: run.plan.warmupRequests, count: run.plan.measuredRequests },
  });
  if (r.config.batch !== undefined) Object.assign(result.summary, offlineFigures(result));
  return { ...result, rate_req_s: rate, ...(run ? { steady: { plan: run.plan, planned: run.planned } } : {}) };
}

/** Latency-benchmark figures of an offline batch: prefill time and per-output-token decode latency. */
function offlineFigures(res: ServeRunResult): Record<string, number> {
  const rows = res.requests.filter((r) => r.status === 'completed');
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const tpot = rows.filter((r) => r.generated_tokens > 1).map((r) => r.tpot_ms);
  return {
    batch_latency_ms: rows.length ? maxOf(rows.map((r) => r.e2e_ms)) : NaN,
    prefill_latency_ms: mean(rows.map((r) => r.ttft_ms)),
    per_token_latency_ms: mean(tpot),
    decode_tok_s_per_request: 1000 / mean(tpot),
  };
}

export interface GoodputPoint {
  rate_req_s: number;
  slo_attainment: number;
  /** Whether the node kept up with the rate over the measured window (backlog.ts); true where not judged. */
  sustained: boolean;
  meets: boolean;
  summary: Record<string, number | string>;
}

/** What a goodput search reads off one run at a rate: its SLO attainment and whether its node kept up (backlog.ts). */
export interface ProbeOutcome {
  attainment: number;
  /** False when the backlog grew past its allowance; a run that was not judged (not steady) counts as sustained. */
  sustained?: boolean;
  summary: Record<string, number | string>;
}

/** Whether a probe meets the goodput's bar: enough requests meet both SLOs, and the node kept up where that was judged. */
export function probeMeets(p: ProbeOutcome, target: number): boolean {
  return p.attainment >= target && (p.sustained ?? true);
}

/** A run's summary as a goodput probe reads it. */
export function probeOutcome(summary: Record<string, number | string>): ProbeOutcome {
  return { attainment: Number(summary.slo_attainment), sustained: summary.sustained !== 0, summary };
}

export interface GoodputResult {
  goodput_req_s: number;
  target_share: number;
  points: GoodputPoint[];
}

/**
 * Goodput: the highest request rate at which at least `target_share` of requests meet both SLOs
 * and the node keeps up with the rate (a steady-state probe's backlog does not grow past its
 * allowance over the measured window, backlog.ts). Each probe is an independent seeded run (same
 * seed: the same lengths and the same unit-rate arrival draws, scaled to the rate). The search doubles (or halves) from `startRate` to bracket
 * the answer, then bisects until the bracket is within `relTolerance` of its upper end.
 */
export function searchGoodput(
  probe: (rate: number) => ProbeOutcome,
  o: {
    target: number;
    startRate: number;
    /** A known bracket (lo meets the target, hi misses it): skips the doubling/halving phase. */
    bracket?: { lo: number; hi: number };
    relTolerance?: number;
    /**
     * Most probes this search runs (a bracket's known ends are not probed again), unless finding the
     * bracket took more: it then bisects MIN_BISECTIONS times after it.
     */
    maxProbes?: number;
    minRate?: number;
    maxRate?: number;
    onProbe?: (p: GoodputPoint) => void;
  },
): GoodputResult {
  const points: GoodputPoint[] = [];
  const run = (rate: number): boolean => {
    const r = probe(rate);
    const p = { rate_req_s: rate, slo_attainment: r.attainment, sustained: r.sustained ?? true, meets: probeMeets(r, o.target), summary: r.summary };
    points.push(p);
    o.onProbe?.(p);
    return p.meets;
  };
  const maxProbes = o.maxProbes ?? GOODPUT_MAX_PROBES;
  const minRate = o.minRate ?? GOODPUT_MIN_RATE;
  const maxRate = o.maxRate ?? 1e4;
  let lo = o.bracket?.lo ?? 0;
  let hi = o.bracket?.hi ?? Infinity;
  let rate = o.startRate;
  // Bracketing goes on past the probe budget (at most ~24 doublings from minRate to maxRate): a
  // search that stopped before its first miss would report its last probe as the goodput.
  while (!o.bracket) {
    if (run(rate)) {
      lo = rate;
      if (hi !== Infinity || rate >= maxRate) break;
      rate = Math.min(maxRate, rate * 2);
    } else {
      hi = rate;
      if (lo > 0 || rate <= minRate) break;
      rate = rate / 2;
    }
  }
  const tol = o.relTolerance ?? 0.05;
  // A bracket found only past the budget still gets enough halvings to bring a factor of two under 5%.
  const probeLimit = points.length >= maxProbes ? points.length + MIN_BISECTIONS : maxProbes;
  while (points.length < probeLimit && hi !== Infinity && lo > 0 && (hi - lo) / hi > tol) {
    const mid = (lo + hi) / 2;
    if (run(mid)) lo = mid;
    else hi = mid;
  }
  return { goodput_req_s: lo, target_share: o.target, points: points.slice().sort((a, b) => a.rate_req_s - b.rate_req_s) };
}

/**
 * Which SLO stops a goodput from being higher: at the lowest probed rate above it, the SLOs whose
 * attainment alone fell below the target share (`ttft`, `itl` or `both`), or `joint` when each
 * alone holds but too few requests meet both, or `backlog` when enough requests met both but the
 * node fell behind the rate (its backlog grew past its allowance, backlog.ts). Empty when no
 * probed rate lies above it (the goodput is a lower bound).
 */
export type GoodputLimit = '' | 'ttft' | 'itl' | 'both' | 'joint' | 'backlog';

export function goodputLimit(probes: Iterable<{ rate_req_s: number; summary: Record<string, number | string> }>, goodputReqS: number, target: number): GoodputLimit {
  let above: { rate_req_s: number; summary: Record<string, number | string> } | undefined;
  for (const p of probes) if (p.rate_req_s > goodputReqS && (!above || p.rate_req_s < above.rate_req_s)) above = p;
  if (!above) return '';
  const ttft = Number(above.summary.ttft_slo_attainment) < target;
  const itl = Number(above.summary.itl_slo_attainment) < target;
  if (ttft || itl) return ttft && itl ? 'both' : ttft ? 'ttft' : 'itl';
  if (Number(above.summary.slo_attainment) < target) return 'joint';
  return above.summary.sustained === 0 ? 'backlog' : 'joint';
}

/** Lowest rate a goodput search probes (req/s): below it a goodput reads as this. */
export const GOODPUT_MIN_RATE = 1e-3;

/** Probes a goodput search runs unless told otherwise (or bracketing from a far start takes more). */
export const GOODPUT_MAX_PROBES = 14;

/** Halvings of a doubling's bracket [r, 2r] that bring it within 5% of its upper end (2^-5 = 3%). */
const MIN_BISECTIONS = 5;

/** A search from one rate probes every rate it judges, so its own probes say which SLO stopped it. */
export function goodputOf(r: ResolvedServe, o: { startRate?: number; relTolerance?: number; maxProbes?: number; onProbe?: (p: GoodputPoint) => void } = {}): GoodputResult & { limited_by: GoodputLimit } {
  const g = searchGoodput(
    (rate) => probeOutcome(runServe(r, { ratePerS: rate, steady: steadyAtRates(r.config) }).summary),
    { target: r.slo.targetShare, startRate: o.startRate ?? r.config.rate ?? 1, relTolerance: o.relTolerance, maxProbes: o.maxProbes, onProbe: o.onProbe },
  );
  return { ...g, limited_by: goodputLimit(g.points, g.goodput_req_s, g.target_share) };
}
