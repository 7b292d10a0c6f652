import { sortFloat64 } from '../../core/sort-f64.js';
import { ttftSloMs, type SloConfig } from './metrics.js';
import type { RequestSpec } from './requests.js';

/**
 * Steady-state measurement of a serving run at an arrival rate (initial-transient deletion, the
 * textbook way to read a queue's steady state off a finite simulation).
 *
 * A run starts with an empty node: its first requests meet an empty decode batch, which fills over
 * about one request lifetime. A run of N requests at a rate the node cannot sustain can end before
 * the backlog shows (Mixtral-8x7B on 8x MI300X, lmsys, rapid at 45 req/s: 99.8% of 500 requests
 * meet the SLOs, 45% of 2,000 and 18% of 5,000; in steady state it keeps up with 38 req/s). So a
 * steady-state run offers warm-up arrivals before the N measured requests and cool-down arrivals
 * after them, and measures only the N: they arrive at a node already holding its steady load, and
 * finish while arrivals go on. The run ends when the last measured request is done.
 *
 * The warm-up lasts the workload's fill time: in a node that meets the SLOs, a request lives at
 * most its TTFT SLO plus (output tokens - 1) ITL SLOs, and a batch fed at a constant rate from
 * empty holds E[min(S, t)] / E[S] of its steady population after t (the M/G/infinity fill
 * curve, S the lifetime). The fill time is the t at which that share reaches FILL_SHARE, over the
 * lengths of N of the workload's requests (the first N drawn: the measured ones' mix, and the same
 * requests at every rate, so a goodput search's probes share one warm-up time). The cool-down lasts
 * as long, so the measured requests see arrivals until most of them are done. A node slower than the SLOs has longer lifetimes, but then its
 * requests miss the SLOs anyway.
 *
 * Whether the node kept up with the rate over the measured window, which a window too short for
 * its backlog to reach the SLOs can hide, is judged apart (backlog.ts).
 */

/** Share of the steady-state population a warm-up waits for (see above). */
export const FILL_SHARE = 0.9;

/** A request's longest life in a node that meets the SLOs (ms): TTFT SLO plus an ITL SLO per later token. */
export function sloLifetimeMs(slo: SloConfig, promptTokens: number, outputTokens: number): number {
  return ttftSloMs(slo, promptTokens) + Math.max(0, outputTokens - 1) * slo.itlMs;
}

/**
 * Smallest t with mean(min(S, t)) >= share x mean(S) over the lifetimes S (same unit as them).
 * mean(min(S, t)) is piecewise linear in t with breaks at the sorted lifetimes.
 */
export function fillTime(lifetimes: ArrayLike<number>, share = FILL_SHARE): number {
  const s = sortFloat64(Float64Array.from(lifetimes));
  const n = s.length;
  if (n === 0) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) total += s[i]!;
  const target = share * total;
  // Below s[k], the k shorter lifetimes count whole and the n - k others count t each.
  let below = 0;
  for (let k = 0; k < n; k++) {
    if (below + (n - k) * s[k]! >= target) return (target - below) / (n - k);
    below += s[k]!;
  }
  return s[n - 1]!;
}

/** Warm-up (and cool-down) seconds of a steady-state run of these requests. */
export function warmupS(slo: SloConfig, requests: readonly RequestSpec[]): number {
  return fillTime(requests.map((r) => sloLifetimeMs(slo, r.promptTokens, r.outputTokens))) / 1000;
}

/** The requests a steady-state run offers, in arrival order: [warm-up | measured | cool-down]. */
export interface SteadyPlan {
  warmupS: number;
  warmupRequests: number;
  measuredRequests: number;
  cooldownRequests: number;
}

/** Requests to offer around `measured` ones at `ratePerS` for a warm-up (and cool-down) of `warmS`. */
export function steadyPlan(measured: number, ratePerS: number, warmS: number): SteadyPlan {
  const extra = Math.ceil(ratePerS * warmS);
  return { warmupS: warmS, warmupRequests: extra, measuredRequests: measured, cooldownRequests: extra };
}

/**
 * The plan for `offered` requests where fewer than planned could be drawn (a request trace with
 * fewer rows): the measured requests keep their count while the trace allows, and the warm-up and
 * cool-down share what is left.
 */
export function fitPlan(plan: SteadyPlan, offered: number): SteadyPlan {
  const planned = plan.warmupRequests + plan.measuredRequests + plan.cooldownRequests;
  if (offered >= planned) return plan;
  const measured = Math.min(plan.measuredRequests, offered);
  const warmup = Math.floor((offered - measured) / 2);
  return { ...plan, warmupRequests: warmup, measuredRequests: measured, cooldownRequests: offered - measured - warmup };
}
