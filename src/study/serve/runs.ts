import { flagAsField, SilicaError } from '../../core/errors.js';
import { overrideOverlays } from '../../hw/config/overrides.js';
import { GOODPUT_MIN_RATE, goodputLimit, parseServeConfig, probeMeets, probeOutcome, resolveServe, runServe, searchGoodput, steadyAtRates, type ResolvedServe, type ServeOutcome } from '../../sw/serving/serve.js';
import { taskFailure, type TaskFailure, type TaskRunner } from '../../sweep/pool.js';
import type { ServeExperiment } from './index.js';

/**
 * The serving study's runs, as tasks a lane can take: every (model, workload, policy) first gives
 * its unconstrained throughput (a burst run), then, once every policy of its model x workload has
 * done so and the sweep's rates are known, its sweep of rates and goodput search. Tasks carry plain
 * data (the experiment config and names) and each lane resolves its own serving config; every run
 * is seeded, so a task's rows are the same on whichever lane runs it, and after whatever it ran before.
 */
export type Row = Record<string, string | number | boolean>;

/** One policy on one model x workload. */
export interface ServeCase {
  exp: ServeExperiment;
  model: string;
  workload: string;
  /** Index into exp.policies. */
  policy: number;
}

export type ServeTask = ({ phase: 'unconstrained' } & ServeCase) | ({ phase: 'rates'; rates: number[] } & ServeCase);

export type UnconstrainedOutcome = { ok: true; phase: 'unconstrained'; row: Row; throughputReqS: number };
/**
 * `goodput` is the policy's line of goodput.csv; `goodputRow` the same as a row of the results
 * table (`mode: goodput`, the goodput as its rate), after the runs: the run at that rate is among
 * the `rate` rows.
 */
export type RatesOutcome = { ok: true; phase: 'rates'; rows: Row[]; goodput: Row; goodputRow: Row; timeline: Row[] };
export type ServeTaskOutcome = UnconstrainedOutcome | RatesOutcome | TaskFailure;

/**
 * The run's simulated figures. Not the host-side statistics beside them (the cost model's memo hit
 * rate, collective simulations run): those count what this process had cached from earlier runs,
 * so a sweep's table would change with the lane that ran the point and what it ran before.
 */
const NUMERIC_KEEP = /^(requests_|warmup_|cooldown_|window_s|backlog_|sustained|throughput|total_throughput|ttft_|tpot_|itl_|e2e_|slo_|cu_util|hbm_util|kv_|preemptions|arm_switches|kv_transfer|duration_s|host_wait_|energy_|avg_board_power_w)/;

function rowOf(base: Row, s: Record<string, number | string>): Row {
  const row: Row = { ...base };
  for (const [k, v] of Object.entries(s)) if (NUMERIC_KEEP.test(k) && typeof v === 'number') row[k] = v;
  return row;
}

/** The case's `silica serve` config, resolved (hardware, model, requests); throws on a bad one. */
export function resolveCase(c: ServeCase): ResolvedServe {
  const { exp, model, workload } = c;
  const p = exp.policies[c.policy]!;
  const field = experimentField(c);
  try {
    // The experiment's hw_overrides come before serve.hw_set, so a setting there has the last word.
    const overlays = overrideOverlays(exp.hw, exp.hw, exp.hw_overrides);
    const own = exp.serve.hw_set;
    // Not a list: left as it is, for the serve schema to refuse.
    const hwSet = own === undefined ? overlays : Array.isArray(own) ? [...overlays, ...own] : own;
    const base = { model, workload, hw: exp.hw, gpus: exp.gpus, tp: exp.tp, requests: exp.requests, seed: exp.seed, ...exp.serve, hw_set: hwSet };
    return resolveServe(parseServeConfig({ ...base, policy: p.policy, policy_options: p.options }, `serve experiment: ${p.name}`, field));
  } catch (err) {
    // resolveServe names flags, as `silica serve` takes them (--prefill-gpus 8: ...): here, the file's fields.
    if (!(err instanceof SilicaError) || !err.message.startsWith('--')) throw err;
    throw new SilicaError(flagAsField(err.message, (name) => field(name in (p.options ?? {}) ? `policy_options.${name}` : name)));
  }
}

/**
 * Where a serving config field comes from in the experiment file: a policy's options under
 * `policies.N.options`, the model and workload by their place in their lists, settings under `serve`.
 */
function experimentField(c: ServeCase): (field: string) => string {
  const { exp } = c;
  return (field) => {
    if (field.startsWith('policy_options.')) {
      const key = field.slice('policy_options.'.length);
      return `policies.${c.policy}.options${key === '(top level)' ? '' : `.${key}`}`;
    }
    if (field === 'policy') return `policies.${c.policy}.policy`;
    if (field === 'model') return `models.${exp.models.indexOf(c.model)}`;
    if (field === 'workload') return `workloads.${exp.workloads.indexOf(c.workload)}`;
    const top = field.split('.')[0]!;
    return exp.serve && top in exp.serve ? `serve.${field}` : field;
  };
}

const labelsOf = (c: ServeCase) => ({ model: c.model, workload: c.workload, policy: c.exp.policies[c.policy]!.name, policy_kind: c.exp.policies[c.policy]!.policy });

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

function unconstrainedRun(c: ServeCase): UnconstrainedOutcome {
  const r = resolveCase(c);
  // A burst has no arrival rate to warm up at: serve.steady_state is for the rate runs below.
  const out = runServe({ ...r, config: { ...r.config, arrival: 'burst' } }, { steady: false });
  const u = unconstrained(out);
  return { ok: true, phase: 'unconstrained', row: rowOf({ ...labelsOf(c), mode: 'unconstrained', rate_req_s: NaN }, { ...out.summary, ...u }), throughputReqS: u.throughput_req_s };
}

/**
 * A bracket below the sweep's lowest rate `hi`, which misses the target: halvings until a rate meets
 * it (lo), so that the bisection after gets the same `goodput_probes` as one between two of the
 * sweep's rates. Until session 40 the search found this bracket within its probe budget and, with
 * the study's 3 probes, had one bisection left: Mixtral LooGLE under chunked prefill with 3 ms of
 * host time per iteration came out at 0.70 req/s with 0.934 missing, 25% apart.
 */
export function bracketBelow(meets: (rate: number) => boolean, hi: number): { lo: number; hi: number } {
  // Down to the search's own floor (1e-3 req/s); below it nothing met the target: a goodput of 0.
  for (let lo = hi / 2; lo >= GOODPUT_MIN_RATE; lo /= 2) {
    if (meets(lo)) return { lo, hi };
    hi = lo;
  }
  return { lo: 0, hi };
}

/**
 * The sweep's rates, then the goodput: bisection between the sweep's last rate meeting the SLO
 * target and the first missing it (or outward from the sweep's ends when none or all meet it).
 */
function ratesRun(c: ServeCase & { rates: number[] }): RatesOutcome {
  const { exp, rates } = c;
  const r = resolveCase(c);
  const labels = labelsOf(c);
  const rows: Row[] = [];
  const at = new Map<number, ServeOutcome>();
  const probe = (rate: number) => {
    let out = at.get(rate);
    if (!out) {
      // Measured in steady state as goodput probes are, unless serve.steady_state says not.
      out = runServe(r, { ratePerS: rate, steady: steadyAtRates(r.config) });
      at.set(rate, out);
      rows.push(rowOf({ ...labels, mode: 'rate', rate_req_s: rate }, out.summary));
    }
    return probeOutcome(out.summary);
  };
  const target = r.slo.targetShare;
  const meets = (rate: number) => probeMeets(probe(rate), target);
  const attain = rates.map(meets);
  const firstFail = attain.indexOf(false);
  const g =
    firstFail < 0
      ? searchGoodput(probe, { target, startRate: rates[rates.length - 1]!, maxProbes: exp.goodput_probes + 2, relTolerance: 0.05 })
      : searchGoodput(probe, { target, startRate: rates[0]!, bracket: firstFail === 0 ? bracketBelow(meets, rates[0]!) : { lo: rates[firstFail - 1]!, hi: rates[firstFail]! }, maxProbes: exp.goodput_probes, relTolerance: 0.05 });
  const maxProbed = Math.max(...at.keys());
  const limitedBy = goodputLimit([...at].map(([rate, out]) => ({ rate_req_s: rate, summary: out.summary })), g.goodput_req_s, target);
  const goodput: Row = { model: c.model, workload: c.workload, policy: labels.policy, goodput_req_s: g.goodput_req_s, lower_bound: g.goodput_req_s >= maxProbed, target_share: target, itl_slo_ms: r.slo.itlMs, limited_by: limitedBy };
  const goodputRow: Row = { ...labels, mode: 'goodput', rate_req_s: g.goodput_req_s, goodput_req_s: g.goodput_req_s, goodput_lower_bound: goodput.lower_bound ? 1 : 0, goodput_limited_by: limitedBy };
  // The rapid run nearest saturation shows the ARM at work. Labelled by policy: a study may run
  // rapid twice (two option sets), and unlabelled rows of two runs could not be told apart.
  const timeline: Row[] = [];
  const tl = at.get(rates[Math.min(rates.length - 1, Math.max(0, exp.rate_fractions.findIndex((f) => f >= 1)))]!)?.timeline;
  if (labels.policy_kind === 'rapid' && tl) for (const t of tl) timeline.push({ model: c.model, workload: c.workload, policy: labels.policy, ...t });
  return { ok: true, phase: 'rates', rows, goodput, goodputRow, timeline };
}

export async function runServeTask(task: ServeTask): Promise<ServeTaskOutcome> {
  try {
    return task.phase === 'unconstrained' ? unconstrainedRun(task) : ratesRun(task);
  } catch (err) {
    return taskFailure(err);
  }
}

export const serveTaskRunner: TaskRunner<ServeTask, ServeTaskOutcome> = { run: runServeTask, workerFile: new URL('./serve-worker.js', import.meta.url) };
