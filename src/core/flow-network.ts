/**
 * Shared resources as fluid flows.
 *
 * A resource (an HBM stack's channels, a link direction, the CUs of one XCD) has a capacity in
 * units per ns. A flow (a kernel's memory traffic, a DMA transfer) consumes `demand` units of each
 * resource it touches per unit of its own progress. Whenever the set of active flows changes, rates
 * are recomputed by weighted max-min fair sharing (progressive filling), class by class in
 * descending priority, so strict-priority arbitration (T3's MCA) and fair sharing use one solver.
 *
 * This is the mechanism by which contention comes out of the model rather than a fudge factor:
 * a GEMM and a DMA transfer that share HBM each get what max-min fairness leaves them.
 */

export interface Resource {
  readonly id: number;
  readonly name: string;
  /** Units (bytes, CU-ns, ...) per ns. */
  capacity: number;
  /**
   * Optional cap on the share of capacity that flows of a given priority may take, applied when
   * that priority class is filled. Used by arbitration policies (e.g. communication may use at
   * most what stays under the queue-occupancy threshold).
   */
  shareCapByPriority?: Map<number, number>;
  /** Integral of usage over time (units), for utilisation and traffic totals. */
  usedIntegral: number;
  /** Current usage (units per ns), valid after a solve. */
  usage: number;
  /** When set, piecewise-constant usage segments are appended here (for timelines). */
  timeline?: UsageSegment[];
}

export interface UsageSegment {
  startNs: number;
  endNs: number;
  usage: number;
}

export interface FlowDemand {
  resource: Resource;
  /** Resource units consumed per unit of flow progress. */
  perUnit: number;
}

export interface FlowState {
  readonly id: number;
  readonly name: string;
  readonly amount: number;
  readonly demands: FlowDemand[];
  readonly maxRate: number;
  readonly weight: number;
  readonly priority: number;
  done: number;
  rate: number;
}

let nextResourceId = 0;

export function makeResource(name: string, capacity: number, options: { timeline?: boolean } = {}): Resource {
  if (!(capacity >= 0)) throw new Error(`resource ${name}: capacity must be >= 0, got ${capacity}`);
  return { id: nextResourceId++, name, capacity, usedIntegral: 0, usage: 0, timeline: options.timeline ? [] : undefined };
}

const EPS = 1e-12;

/**
 * Weighted max-min fair rates with per-flow caps and strict priority classes.
 * Mutates `flow.rate` and `resource.usage`. Deterministic: flows are visited in array order.
 */
export function solveRates(flows: readonly FlowState[], resources: readonly Resource[]): void {
  const remaining = new Map<Resource, number>();
  for (const r of resources) {
    remaining.set(r, r.capacity);
    r.usage = 0;
  }
  for (const f of flows) f.rate = 0;

  const priorities = [...new Set(flows.map((f) => f.priority))].sort((a, b) => b - a);
  for (const priority of priorities) {
    const classFlows = flows.filter((f) => f.priority === priority);
    // Capacity this class may use on each resource: what higher classes left, possibly capped.
    const classRemaining = new Map<Resource, number>();
    for (const f of classFlows) {
      for (const d of f.demands) {
        if (classRemaining.has(d.resource)) continue;
        const left = remaining.get(d.resource) ?? d.resource.capacity;
        const cap = d.resource.shareCapByPriority?.get(priority);
        classRemaining.set(d.resource, cap === undefined ? left : Math.min(left, cap * d.resource.capacity));
      }
    }
    fillClass(classFlows, classRemaining);
    for (const f of classFlows) {
      for (const d of f.demands) {
        const used = f.rate * d.perUnit;
        remaining.set(d.resource, Math.max(0, (remaining.get(d.resource) ?? d.resource.capacity) - used));
        d.resource.usage += used;
      }
    }
  }
}

function fillClass(flows: FlowState[], capacityLeft: Map<Resource, number>): void {
  const active = new Set(flows.filter((f) => f.maxRate > 0));
  // Flows with a zero-demand on every resource are limited only by their own cap.
  while (active.size > 0) {
    // Find the smallest fill level lambda at which a constraint binds. Each active flow's rate is
    // weight * lambda (on top of what it already has).
    let lambda = Infinity;
    const load = new Map<Resource, number>();
    for (const f of active) {
      lambda = Math.min(lambda, (f.maxRate - f.rate) / f.weight);
      for (const d of f.demands) {
        if (d.perUnit <= 0) continue;
        load.set(d.resource, (load.get(d.resource) ?? 0) + f.weight * d.perUnit);
      }
    }
    for (const [r, weightedDemand] of load) {
      lambda = Math.min(lambda, (capacityLeft.get(r) ?? 0) / weightedDemand);
    }
    if (!Number.isFinite(lambda)) lambda = 0;
    lambda = Math.max(0, lambda);
    for (const f of active) f.rate += f.weight * lambda;
    for (const [r, weightedDemand] of load) capacityLeft.set(r, Math.max(0, (capacityLeft.get(r) ?? 0) - weightedDemand * lambda));
    // Freeze flows at their cap or touching a saturated resource.
    const saturated = new Set<Resource>();
    for (const [r] of load) if ((capacityLeft.get(r) ?? 0) <= EPS * Math.max(1, r.capacity)) saturated.add(r);
    let frozeAny = false;
    for (const f of [...active]) {
      const atCap = f.rate >= f.maxRate * (1 - 1e-12);
      const blocked = f.demands.some((d) => d.perUnit > 0 && saturated.has(d.resource));
      if (atCap || blocked) {
        active.delete(f);
        frozeAny = true;
      }
    }
    if (!frozeAny) break; // numerical corner: nothing binds any more
  }
}
