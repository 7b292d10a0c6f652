import { SilicaError, invariant } from '../../core/errors.js';
import type { HardwareConfig } from '../../hw/config/schema.js';
import { System } from '../../hw/system.js';
import { boardJ } from '../../hw/gpu/power.js';
import type { ModelSpec } from '../models/index.js';
import { ChromeTraceRecorder } from './chrome-trace.js';
import { collectiveSimulations } from './collective-time.js';
import { costModelFor, type IterationCostModel } from './cost-model.js';
import { MetricsCollector, type RequestRow, type SloConfig } from './metrics.js';
import { policyKind, policyNames, type PolicyContext, type ServeSettings } from './policy.js';
import { Req } from './request-state.js';
import { judgeBacklog, type BacklogJudgement } from './backlog.js';
import type { RequestSpec } from './requests.js';
import { validate } from '../../core/yaml-config.js';
import './policies/index.js';

/**
 * The serving engine: requests arrive on the simulator clock, the policy turns them into
 * iterations on its replicas' streams, iterations take the time the hardware model gives their
 * shapes, and metrics are collected in one place. Deterministic: no wall clock, no unseeded
 * randomness, events tie-broken by insertion order.
 */
export interface ServeRunOptions {
  hw: HardwareConfig;
  model: ModelSpec;
  gpus: number;
  policy: string;
  /** Policy options (validated by the policy's schema; defaults filled). */
  policyOptions?: Record<string, unknown>;
  settings: ServeSettings;
  slo: SloConfig;
  requests: readonly RequestSpec[];
  /** Record a Chrome trace of the GPU streams (capped at this many events). */
  chromeTraceEvents?: number;
  /**
   * Called with (requests finished or rejected, total) as the run advances. A steady-state run
   * counts its warm-up requests and its measured ones (the cool-down's are never waited for), and
   * reports the total once more when it stops.
   */
  progress?: (done: number, total: number) => void;
  /**
   * A steady-state run (steady-state.ts): only `count` requests from index `first` (in arrival
   * order) are measured, the others are load around them, and the run ends when the measured ones
   * are done. Leave out to measure every request and run until all are done.
   */
  measured?: { first: number; count: number };
}

export interface ServeRunResult {
  summary: Record<string, number | string>;
  requests: RequestRow[];
  /** Host seconds the event loop took (not part of the summary: outputs stay byte-identical). */
  hostS: number;
  chromeTrace?: ChromeTraceRecorder;
  /** Policy extras (e.g. the ARM's CU split over time). */
  timeline?: Array<Record<string, number | string>>;
}

export function runServing(o: ServeRunOptions): ServeRunResult {
  const kind = policyKind(o.policy);
  if (!kind) throw new SilicaError(`--policy: unknown policy "${o.policy}" (expected one of ${policyNames().join(', ')})`);
  const s = o.settings;
  if (!Number.isInteger(o.gpus) || o.gpus < 1) throw new SilicaError(`--gpus: expected a positive whole number, got ${o.gpus}`);
  if (!Number.isInteger(s.tp) || s.tp < 1 || s.tp > o.gpus) throw new SilicaError(`--tp: expected a whole number from 1 to --gpus (${o.gpus}), got ${s.tp}`);
  const policyOptions = validate(kind.options, o.policyOptions ?? {}, `policy ${o.policy} options`);
  const system = new System(o.hw, o.gpus);
  const sim = system.sim;
  const metrics = new MetricsCollector(o.slo);
  const trace = o.chromeTraceEvents ? new ChromeTraceRecorder(o.chromeTraceEvents) : undefined;
  const costsByTp = new Map<number, IterationCostModel>();
  const costsFor = (tp: number) => {
    let c = costsByTp.get(tp);
    if (!c) {
      c = costModelFor(o.hw, o.model, { tp, dtype: s.dtype, kvDtype: s.kvDtype });
      costsByTp.set(tp, c);
    }
    return c;
  };
  const before = new Map<IterationCostModel, { lookups: number; hits: number }>();
  const snapshot = (c: IterationCostModel) => {
    if (!before.has(c)) before.set(c, { lookups: c.lookups, hits: c.hits });
  };
  const costs = costsFor(s.tp);
  snapshot(costs);
  const reqs = o.requests.map((r) => new Req(r));
  const window = measuredWindow(reqs, o.measured);
  for (let i = 0; i < reqs.length; i++) reqs[i]!.measured = i >= window.first && i < window.first + window.count;
  const measured = window.first === 0 && window.count === reqs.length ? reqs : reqs.slice(window.first, window.first + window.count);
  if (o.measured && measured.length) {
    metrics.windowStartNs = measured[0]!.arrivalNs;
    metrics.windowEndNs = measured[measured.length - 1]!.arrivalNs;
  }
  const total = measured.length;
  let done = 0;
  // Progress over the requests a run waits for: a steady-state run's warm-up and measured ones.
  const progressTotal = window.first + window.count;
  const coolDown = new Set(reqs.slice(progressTotal));
  let progressDone = 0;
  // Schedulers woken while a group of same-instant arrivals is handed in (kicked after the group).
  let woken: Array<{ kick(): void }> | undefined;
  const ctx: PolicyContext = {
    sim,
    system,
    hw: o.hw,
    model: o.model,
    gpus: o.gpus,
    settings: s,
    costs,
    costsFor: (tp) => {
      const c = costsFor(tp);
      snapshot(c);
      return c;
    },
    metrics,
    trace,
    workload: {
      meanPromptTokens: reqs.length ? reqs.reduce((a, r) => a + r.promptTokens, 0) / reqs.length : 0,
      meanOutputTokens: reqs.length ? reqs.reduce((a, r) => a + r.outputTokens, 0) / reqs.length : 0,
    },
    requestDone: (req) => {
      if (!coolDown.has(req) && ++progressDone % 64 === 0 && progressDone < progressTotal) o.progress?.(progressDone, progressTotal);
      if (!req.measured) return;
      done++;
      if (done < total) return;
      o.progress?.(progressTotal, progressTotal);
      // The load behind the last measured request is not drained: nothing measured is left.
      if (o.measured) sim.stop();
    },
    wakeOnArrival: (scheduler) => {
      if (!woken) scheduler.kick();
      else if (!woken.includes(scheduler)) woken.push(scheduler);
    },
  };
  const policy = kind.create(ctx, policyOptions);

  // Arrivals are chained (one pending arrival event at a time) so the event heap stays small.
  // Requests arriving at the same instant are handed in together, and only then do the schedulers
  // they woke start a step: else the first of an offline batch would be prefilled alone.
  let next = 0;
  const arriveNext = () => {
    const nowNs = reqs[next]!.arrivalNs;
    woken = [];
    while (next < reqs.length && reqs[next]!.arrivalNs === nowNs) policy.arrive(reqs[next++]!);
    const wake = woken;
    woken = undefined;
    for (const scheduler of wake) scheduler.kick();
    if (next < reqs.length) sim.at(reqs[next]!.arrivalNs, arriveNext);
  };
  if (reqs.length) sim.at(reqs[0]!.arrivalNs, arriveNext);
  const t0 = performance.now();
  const endNs = sim.run();
  const hostS = (performance.now() - t0) / 1000;

  const settled = (r: Req) => r.phase === 'done' || r.phase === 'rejected';
  const unfinished = measured.filter((r) => !settled(r));
  // Requests still in the run when it ended (a steady-state run stops with its load in flight):
  // only they may hold KV blocks; every finished or rejected request has given its blocks back.
  const inFlight = new Set(reqs.filter((r) => !settled(r)).map((r) => r.id));
  let conserved = true;
  let kvBlocks = 0;
  let kvUtil = 0;
  let kvPeak = 0;
  let cuNs = 0;
  let hbmBytes = 0;
  let dynamicEnergyNj = 0;
  let preR = 0;
  let preS = 0;
  let swapBytes = 0;
  let gpuSlots = 0;
  let hostWaitNs = 0;
  let iterations = 0;
  for (const rep of policy.replicas()) {
    hostWaitNs += rep.hostWaitNs;
    iterations += rep.iterations;
    conserved &&= rep.kv.conserved() && rep.kv.heldOnlyBy(inFlight);
    kvBlocks += rep.kv.totalBlocks;
    kvUtil += rep.kv.utilisation(endNs) * rep.kv.totalBlocks;
    kvPeak += rep.kv.peakUsed;
    cuNs += rep.cuNs * rep.gpus.length;
    hbmBytes += rep.hbmBytes * rep.gpus.length;
    dynamicEnergyNj += rep.dynamicEnergyNj * rep.gpus.length;
    preR += rep.preemptRecompute;
    preS += rep.preemptSwap;
    swapBytes += rep.swapBytes;
    gpuSlots += rep.gpus.length;
  }
  invariant(conserved, 'KV blocks not conserved at the end of the run');
  const firstNs = reqs.length ? reqs[0]!.arrivalNs : 0;
  const spanNs = Math.max(1, endNs - firstNs);
  const spanS = spanNs / 1e9;
  // Throughput is read over the measurement window of a steady-state run (its measured arrivals),
  // and over the whole run otherwise.
  const steady = o.measured !== undefined;
  const windowS = steady ? Math.max(1, metrics.windowEndNs - metrics.windowStartNs) / 1e9 : spanS;
  const windowDone = steady ? metrics.finished.filter((r) => r.finishNs >= metrics.windowStartNs && r.finishNs <= metrics.windowEndNs) : metrics.finished;
  const windowTokens = steady ? metrics.windowTokens : metrics.generatedTokens;
  let lookups = 0;
  let hits = 0;
  for (const [c, b] of before) {
    lookups += c.lookups - b.lookups;
    hits += c.hits - b.hits;
  }
  const rejectReasons = new Map<string, number>();
  for (const r of metrics.rejected) {
    if (!r.measured) continue;
    const key = reasonKind(r.rejectReason);
    rejectReasons.set(key, (rejectReasons.get(key) ?? 0) + 1);
  }
  const backlog = steady ? windowBacklog(reqs, metrics.windowStartNs, metrics.windowEndNs) : undefined;
  const hw = o.hw;
  const summary: Record<string, number | string> = {
    model: o.model.name,
    hw: hw.name,
    gpus: o.gpus,
    tp: s.tp,
    policy: o.policy,
    dtype: s.dtype,
    kv_dtype: s.kvDtype,
    requests_total: total,
    requests_completed: measured.filter((r) => r.phase === 'done').length,
    requests_rejected: measured.filter((r) => r.phase === 'rejected').length,
    requests_unfinished: unfinished.length,
    ...(steady ? { warmup_requests: window.first, cooldown_requests: countArrivedAfter(reqs, window.first + window.count, endNs), warmup_s: (metrics.windowStartNs - firstNs) / 1e9, window_s: windowS } : {}),
    ...(backlog ? { backlog_growth: backlog.growth, backlog_allowed: backlog.allowed, sustained: backlog.sustained ? 1 : 0 } : {}),
    reject_reasons: [...rejectReasons.entries()].map(([k, v]) => `${v}x ${k}`).join('; '),
    duration_s: spanS,
    throughput_tok_s: windowTokens / windowS,
    total_throughput_tok_s: (windowTokens + promptTokensOf(windowDone)) / windowS,
    throughput_req_s: windowDone.length / windowS,
    ...metrics.summary(measured),
    cu_util: cuNs / (hw.compute.cus * o.gpus * spanNs),
    hbm_util: hbmBytes / (hw.memory.hbm.peak_gbps * hw.memory.hbm.efficiency * o.gpus * spanNs),
    ...energySummary(hw, o.gpus, spanNs, dynamicEnergyNj, metrics.generatedTokens),
    kv_util: kvBlocks ? kvUtil / kvBlocks : 0,
    kv_peak_util: kvBlocks ? kvPeak / kvBlocks : 0,
    kv_blocks: kvBlocks,
    gpus_serving: gpuSlots,
    preemptions_recompute: preR,
    preemptions_swap: preS,
    swap_bytes: swapBytes,
    memo_lookups: lookups,
    memo_hit_rate: lookups ? hits / lookups : 0,
    collective_simulations: collectiveSimulations(),
    events: sim.eventsProcessed,
    // With the engine's host time (a what-if), how long an iteration's GPU work waited for it.
    ...(s.host ? { host_wait_ms_per_iteration: iterations ? hostWaitNs / iterations / 1e6 : 0 } : {}),
    ...policy.stats(endNs),
  };
  return {
    summary,
    hostS,
    requests: metrics.rows(measured),
    chromeTrace: trace,
    timeline: (policy as { timeline?: Array<Record<string, number | string>> }).timeline,
  };
}

/**
 * Board energy over the run, where the part models its power (compute.power): every GPU's static
 * power over the run (from the first arrival), serving or idle, plus the energy its iterations'
 * kernels drew over it. Collectives, KV transfers and the host add none (docs/serving.md).
 */
function energySummary(hw: HardwareConfig, gpus: number, spanNs: number, dynamicEnergyNj: number, outputTokens: number): Record<string, number> {
  const power = hw.compute.power;
  if (!power) return {};
  const energyJ = boardJ(power, gpus * spanNs, dynamicEnergyNj);
  return { energy_j: energyJ, avg_board_power_w: (energyJ * 1e9) / spanNs / gpus, energy_per_output_token_j: outputTokens > 0 ? energyJ / outputTokens : NaN };
}

/** Whether the node kept up over a steady-state run's measured window (backlog.ts). */
function windowBacklog(reqs: readonly Req[], startNs: number, endNs: number): BacklogJudgement {
  const n = reqs.length;
  const arrivalNs = new Float64Array(n);
  const firstTokenNs = new Float64Array(n);
  const rejected = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = reqs[i]!;
    arrivalNs[i] = r.arrivalNs;
    firstTokenNs[i] = r.firstTokenNs;
    rejected[i] = r.phase === 'rejected' ? 1 : 0;
  }
  return judgeBacklog(arrivalNs, firstTokenNs, rejected, startNs, endNs);
}

function promptTokensOf(finished: readonly Req[]): number {
  let s = 0;
  for (const r of finished) s += r.promptTokens;
  return s;
}

/** Requests from index `from` that arrived by `endNs` (a steady-state run stops before the rest arrive). */
function countArrivedAfter(reqs: readonly Req[], from: number, endNs: number): number {
  let n = 0;
  for (let i = from; i < reqs.length && reqs[i]!.arrivalNs <= endNs; i++) n++;
  return n;
}

function measuredWindow(reqs: readonly Req[], m: ServeRunOptions['measured']): { first: number; count: number } {
  if (!m) return { first: 0, count: reqs.length };
  if (!Number.isInteger(m.first) || !Number.isInteger(m.count) || m.first < 0 || m.count < 1 || m.first + m.count > reqs.length) {
    throw new SilicaError(`measured requests: expected at least one, within the run's ${reqs.length} (got ${m.count} from index ${m.first})`);
  }
  return m;
}

/**
 * Groups reject reasons that differ only in their figures ("= 12000 tokens", "has 4096"), so the
 * summary counts kinds of rejection. Only standalone numbers become N: digits inside a word such
 * as a model name (llama3.1-70b) stay.
 */
export function reasonKind(reason: string): string {
  return reason.replace(/(?<![\w.-])\d+(?:\.\d+)?(?![\w.])/g, 'N');
}
