/**
 * Loaded DRAM latency from queue occupancy: the pure functions behind the memory controller model.
 *
 * The flow solver shares HBM *bandwidth*; it cannot see why a compute-bound GEMM that uses a third
 * of the bandwidth still slows down when a DMA stream and near-memory updates join it (T3's
 * motivation for MCA, mission.md §2). The reason is latency: the GEMM's loads wait in the same
 * queues as the communication requests. Each HBM is treated as one queue whose loaded latency
 * follows the M/M/1 shape scaled to the idle latency L0 (`memory.hbm.latency_ns`):
 *
 * - occupancy q(u) = u / (1 - u), in units of L0: L = L0 (1 + q). This is an empirical shape, not
 *   request-level M/M/1 (a 64-byte burst's service time is ns, not L0): it stands for bank
 *   conflicts, row misses and scheduling that make measured loaded-latency curves of GPU HBM flat
 *   to ~50% of peak bandwidth and 3-5x idle at 70-80%, as pointer-chase-under-load studies show;
 * - FCFS (`fair`): every requester sees L = L0 (1 + u / (1 - u)) = L0 / (1 - u);
 * - non-preemptive priority (MCA's compute-first ordering, Cobham 1954): the high class waits only
 *   for the work in service, L = L0 (1 + u / (1 - u_high)), u_high being its own utilisation.
 *
 * A producer hides a loaded latency up to `hiddenNs` (its loads are issued that far ahead of use).
 * Latency is not a constant: X = L0 + Y, the idle pipeline plus a queueing delay Y, exponential
 * with the mean the formulas above give (the M/M/1 sojourn's distribution). The main loop stalls by
 * the expected excess E[max(0, X - H)] per iteration, so its speed is
 *   speed = 1 / (1 + E[max(0, X - H)] / iterationNs),   iterationNs = H / prefetched iterations.
 * The tail is what makes interference gradual: a GEMM at 30% utilisation alone loses ~0.1%, the
 * same GEMM beside communication at 60% total loses several percent under FCFS and little under
 * priority — T3's case for MCA (mission.md §2).
 */

/** Utilisation at which the queue formulas are clamped (an M/M/1 queue diverges at 1). */
export const MAX_UTILISATION = 0.98;

export function occupancy(u: number): number {
  const x = Math.min(Math.max(u, 0), MAX_UTILISATION);
  return x / (1 - x);
}

/** Inverse of `occupancy`: the utilisation at which the queue holds q requests. */
export function utilisationAtOccupancy(q: number): number {
  return q <= 0 ? 0 : q / (1 + q);
}

/** FCFS loaded latency: L0 / (1 - u). */
export function fcfsLatencyNs(idleNs: number, uTotal: number): number {
  return idleNs * (1 + occupancy(uTotal));
}

/** Latency of the high-priority class under non-preemptive priority (Cobham): L0 (1 + u / (1 - u_high)). */
export function priorityLatencyNs(idleNs: number, uTotal: number, uHigh: number): number {
  const high = Math.min(Math.max(uHigh, 0), MAX_UTILISATION);
  return idleNs * (1 + Math.min(Math.max(uTotal, 0), 1) / (1 - high));
}

/** E[max(0, L0 + Y - H)] for Y exponential with mean `queueMeanNs`. */
export function expectedStallNs(idleNs: number, queueMeanNs: number, hiddenNs: number): number {
  const slack = hiddenNs - idleNs;
  if (queueMeanNs <= 0) return Math.max(0, -slack);
  if (slack <= 0) return -slack + queueMeanNs;
  return queueMeanNs * Math.exp(-slack / queueMeanNs);
}

/**
 * Producer speed in (0, 1] given how its mean loaded latency depends on its own speed (a faster
 * producer loads the queue more): the fixed point of s = 1 / (1 + stall(latencyAt(s)) / iterationNs).
 * The right side decreases in s, so bisection finds the unique crossing; 30 halvings are ample.
 */
export function latencyBoundSpeed(o: { idleNs: number; hiddenNs: number; iterationNs: number }, latencyAt: (speed: number) => number): number {
  if (!(o.hiddenNs > 0) || !(o.iterationNs > 0)) return 1;
  const speedAt = (s: number) => 1 / (1 + expectedStallNs(o.idleNs, latencyAt(s) - o.idleNs, o.hiddenNs) / o.iterationNs);
  if (speedAt(1) >= 1 - 1e-9) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (mid < speedAt(mid)) lo = mid;
    else hi = mid;
  }
  return Math.max(lo, 1e-3);
}
