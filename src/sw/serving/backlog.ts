/**
 * Whether a steady-state run's node kept up with the load offered to it over the measured window
 * (steady-state.ts), judged by its backlog: the requests that have arrived and have not yet had
 * their first token (waiting for, or in, their prefill). Rejected requests leave at arrival and
 * are never in it.
 *
 * A finite run near a knee can meet the SLOs while its node falls behind: the backlog grows at
 * (lambda - mu) while latencies have not yet reached the SLOs. Conservation gives the criterion
 * without a model of the node: over the window, growth = arrivals - admissions (first tokens). A
 * node that sustains the rate (mu >= lambda) has E[growth] <= 0; one that does not has
 * growth ~ (1 - mu/lambda) x arrivals.
 *
 * Growth is judged against two scales, and the window fails only beyond both:
 * - its noise: a node admitting exactly at the arrival rate (the edge of sustaining it) has a
 *   backlog that is a random walk, arrivals up, admissions down; over A arrivals it wanders by
 *   about sqrt(A x (ca^2 + cs^2)), ca the arrivals' coefficient of variation (measured on the
 *   window's gaps: 1 for Poisson) and cs the admissions' (taken as 1, Poisson-like). A node with
 *   headroom has a stationary backlog whose change over the window spreads less than that walk.
 * - the goodput search's own precision (its relative tolerance, 5%): a node admitting fewer than
 *   95% of the arrivals is not sustaining the rate to within what the search resolves.
 */

/** Share of the window's arrivals a backlog may grow by: the goodput search's relative tolerance. */
export const BACKLOG_TOLERANCE = 0.05;

/** Squared coefficient of variation the admissions (first tokens) are taken to have: Poisson-like. */
const ADMISSION_CV2 = 1;

export interface BacklogJudgement {
  /** Backlog at the last measured arrival minus at the first (requests; negative when it shrank). */
  growth: number;
  /** Arrivals after the first measured one, up to and including the last. */
  arrivals: number;
  /** Growth the window may show and still count as sustained (requests). */
  allowed: number;
  sustained: boolean;
}

/**
 * Requests in the backlog at `tNs`: arrived by then, not rejected, no first token by then.
 * `firstTokenNs` is negative for a request that never had one.
 */
export function backlogAt(arrivalNs: ArrayLike<number>, firstTokenNs: ArrayLike<number>, rejected: ArrayLike<number>, tNs: number): number {
  let n = 0;
  for (let i = 0; i < arrivalNs.length; i++) {
    if (arrivalNs[i]! > tNs || rejected[i]) continue;
    const f = firstTokenNs[i]!;
    if (f < 0 || f > tNs) n++;
  }
  return n;
}

/** Squared coefficient of variation of the gaps between consecutive times (ascending); 1 with fewer than two gaps. */
export function gapCv2(timesNs: ArrayLike<number>): number {
  const gaps = timesNs.length - 1;
  if (gaps < 2) return 1;
  const mean = (timesNs[gaps]! - timesNs[0]!) / gaps;
  if (!(mean > 0)) return 1;
  let ss = 0;
  for (let i = 1; i <= gaps; i++) ss += (timesNs[i]! - timesNs[i - 1]! - mean) ** 2;
  return ss / gaps / (mean * mean);
}

/** The growth a window of `arrivals` may show and still count as sustained (see above). */
export function allowedGrowth(arrivals: number, arrivalCv2: number, tolerance = BACKLOG_TOLERANCE): number {
  return Math.max(tolerance * arrivals, Math.sqrt(arrivals * (arrivalCv2 + ADMISSION_CV2)));
}

/**
 * Judges the window [startNs, endNs] (the first and last measured arrival) of a run whose requests
 * are given in arrival order.
 */
export function judgeBacklog(arrivalNs: ArrayLike<number>, firstTokenNs: ArrayLike<number>, rejected: ArrayLike<number>, startNs: number, endNs: number): BacklogJudgement {
  const growth = backlogAt(arrivalNs, firstTokenNs, rejected, endNs) - backlogAt(arrivalNs, firstTokenNs, rejected, startNs);
  const inWindow: number[] = [];
  for (let i = 0; i < arrivalNs.length; i++) if (arrivalNs[i]! >= startNs && arrivalNs[i]! <= endNs) inWindow.push(arrivalNs[i]!);
  let arrivals = 0;
  for (const t of inWindow) if (t > startNs) arrivals++;
  const allowed = allowedGrowth(arrivals, gapCv2(inWindow));
  return { growth, arrivals, allowed, sustained: growth <= allowed };
}
