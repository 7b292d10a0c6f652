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
  /** Current usage (units per ns), valid after a solve (inside an event: Simulator.settleRates first). */
  usage: number;
  /** When set, piecewise-constant usage segments are appended here (for timelines). */
  timeline?: UsageSegment[];
  /** Solver scratch: this resource's index in the solve numbered `solveStamp` (internal). */
  solveIndex?: number;
  solveStamp?: number;
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
  /** Progress per ns, valid after a solve (inside an event: Simulator.settleRates first). */
  rate: number;
}

let nextResourceId = 0;

export function makeResource(name: string, capacity: number, options: { timeline?: boolean } = {}): Resource {
  if (!(capacity >= 0)) throw new Error(`resource ${name}: capacity must be >= 0, got ${capacity}`);
  // Every field present from the start, arbitration's cap map included: resources keep one shape,
  // so the solver's and the event loop's reads of them stay monomorphic.
  return { id: nextResourceId++, name, capacity, shareCapByPriority: undefined, usedIntegral: 0, usage: 0, timeline: options.timeline ? [] : undefined, solveIndex: -1, solveStamp: -1 };
}

const EPS = 1e-12;

/**
 * Weighted max-min fair rates with per-flow caps and strict priority classes.
 * Mutates `flow.rate` and `resource.usage`: every resource a flow demands gets its usage, and every
 * resource of `reset` that no flow demands gets zero. Returns the resources in use (usage > 0).
 * Pass as `reset` every resource that may hold usage from an earlier solve (the simulator passes
 * the last solve's result): resources nobody uses are then never visited, which matters where a
 * GPU's many resources are mostly idle (T3 at TP 32: ~250 resources, ~70 flows, most solves).
 * Deterministic: flows are visited in array order.
 *
 * Implementation: resources are numbered once per solve and the progressive filling runs on typed
 * arrays (the same arithmetic, in the same order, as the Map-based original: results are
 * bit-identical; which resources are numbered, and in what order, changes no sum or minimum).
 * Solves dominate large multi-GPU runs (T3 at TP 32: thousands of solves over ~100 flows), so this
 * loop is kept plain.
 */
let solveCount = 0;

/**
 * The resources numbered in a solve, by solve index: one list for every solve (the first `R`
 * entries are this solve's; later ones are stale). Written by index, never emptied: a list emptied
 * with `length = 0` gives up its storage and grows it again, and a fresh list per solve was a
 * fifth of what the T3 study allocated. It may keep a finished simulation's resources reachable
 * until the next solve overwrites them.
 */
const numbered: Resource[] = [];

/**
 * `busy`, when given, receives the resources in use and is returned (the simulator passes its
 * last result, so one list serves every solve); it may be `reset` itself, which is read first.
 */
export function solveRates(flows: readonly FlowState[], reset: readonly Resource[], busy: Resource[] = []): Resource[] {
  const stamp = ++solveCount;
  const list = numbered;
  let R = 0;
  for (let i = 0; i < reset.length; i++) reset[i]!.usage = 0;
  // Flattened demands: flow f's demands are [start[f], start[f + 1]).
  const F = flows.length;
  let D = 0;
  for (let f = 0; f < F; f++) D += flows[f]!.demands.length;
  // Every resource a flow touches is numbered below: at most D of them.
  const scratch = scratchFor(F, D, D);
  const { start, dRes, dPer, fRate, fMax, fWeight } = scratch;
  D = 0;
  for (let f = 0; f < F; f++) {
    start[f] = D;
    const flow = flows[f]!;
    const ds = flow.demands;
    if (flow.maxRate > 0) {
      for (let j = 0; j < ds.length; j++, D++) {
        // Numbers the resource at its first demand in this solve.
        const r = ds[j]!.resource;
        if (r.solveStamp !== stamp) {
          r.solveStamp = stamp;
          r.solveIndex = R;
          list[R++] = r;
        }
        dRes[D] = r.solveIndex!;
        dPer[D] = ds[j]!.perUnit;
      }
    } else {
      // A flow capped at zero (a paused DMA: a fifth of T3's flows) takes no rate and adds nothing
      // to any sum, so its demands stay out of the solve; the resources get their zero usage here
      // (another flow that numbers one writes its own usage at the end).
      for (let j = 0; j < ds.length; j++) if (ds[j]!.resource.solveStamp !== stamp) ds[j]!.resource.usage = 0;
    }
    // The flows' numbers live in the scratch arrays too; rates are written back at the end.
    fRate[f] = 0;
    fMax[f] = flow.maxRate;
    fWeight[f] = flow.weight;
  }
  start[F] = D;
  // Capacities and usage live in the scratch arrays during the solve (read and summed there in the
  // same order as on the resources themselves), and usage is written back once at the end.
  const { remaining, capacity, usage } = scratch;
  for (let i = 0; i < R; i++) {
    remaining[i] = capacity[i] = list[i]!.capacity;
    usage[i] = 0;
  }

  const nClasses = priorityClasses(flows);
  const { classIdx } = scratch;
  for (let k = 0; k < nClasses; k++) {
    const priority = classes[k]!;
    let nClass = 0;
    for (let f = 0; f < F; f++) if (flows[f]!.priority === priority) classIdx[nClass++] = f;
    // Capacity this class may use on each resource: what higher classes left, possibly capped.
    const { capLeft, seenInClass } = scratch;
    seenInClass.fill(0, 0, R);
    for (let i = 0; i < nClass; i++) {
      const f = classIdx[i]!;
      for (let d = start[f]!; d < start[f + 1]!; d++) {
        const r = dRes[d]!;
        if (seenInClass[r]) continue;
        seenInClass[r] = 1;
        const res = list[r]!;
        const cap = res.shareCapByPriority?.get(priority);
        capLeft[r] = cap === undefined ? remaining[r]! : Math.min(remaining[r]!, cap * res.capacity);
      }
    }
    fillClass(nClass, scratch);
    for (let i = 0; i < nClass; i++) {
      const f = classIdx[i]!;
      const rate = fRate[f]!;
      for (let d = start[f]!; d < start[f + 1]!; d++) {
        const r = dRes[d]!;
        const used = rate * dPer[d]!;
        remaining[r] = Math.max(0, remaining[r]! - used);
        usage[r] += used;
      }
    }
  }
  for (let f = 0; f < F; f++) flows[f]!.rate = fRate[f]!;
  let nBusy = 0;
  for (let i = 0; i < R; i++) {
    list[i]!.usage = usage[i]!;
    if (usage[i]! > 0) busy[nBusy++] = list[i]!;
  }
  busy.length = nBusy;
  return busy;
}

/**
 * The flows' distinct priorities, highest first, in a list reused by every solve (an arbiter's
 * two or three classes: a linear scan, no set, and every solve of a T3 MCA run has several).
 * Sorted by insertion as they are found: Array.prototype.sort allocates a work array per call,
 * and that was 5% of what the T3 study allocated.
 */
const classes: number[] = [];

/** Fills `classes` and returns how many there are (its first entries; written by index, never emptied). */
function priorityClasses(flows: readonly FlowState[]): number {
  let n = 0;
  for (let f = 0; f < flows.length; f++) {
    const p = flows[f]!.priority;
    let seen = false;
    for (let i = 0; i < n && !seen; i++) seen = classes[i] === p || (p !== p && classes[i] !== classes[i]);
    if (seen) continue;
    // Put after every class above it: the order sort((a, b) => b - a) gives distinct numbers.
    let i = n++;
    while (i > 0 && classes[i - 1]! < p) {
      classes[i] = classes[i - 1]!;
      i--;
    }
    classes[i] = p;
  }
  return n;
}

interface SolveScratch {
  start: Int32Array;
  dRes: Int32Array;
  dPer: Float64Array;
  /** Per flow: its rate as it is filled, its cap and its weight. */
  fRate: Float64Array;
  fMax: Float64Array;
  fWeight: Float64Array;
  /** The flows of the class being filled, and those of them still rising. */
  classIdx: Int32Array;
  active: Int32Array;
  capacity: Float64Array;
  usage: Float64Array;
  remaining: Float64Array;
  capLeft: Float64Array;
  load: Float64Array;
  touched: Uint8Array;
  loaded: Int32Array;
  saturated: Uint8Array;
  seenInClass: Uint8Array;
}

/**
 * One set of solver arrays per thread, grown as needed: a solve is synchronous and never nested,
 * and allocating ten typed arrays per solve made a sweep of small simulations spend a fifth of its
 * time in the garbage collector. `touched` and `saturated` are all-zero between solves (fillClass
 * clears what it sets); every other array is written before it is read.
 */
let shared: (SolveScratch & { flows: number; demands: number; resources: number }) | undefined;

function scratchFor(flows: number, demands: number, resources: number): SolveScratch {
  if (!shared || shared.flows < flows || shared.demands < demands || shared.resources < resources) {
    const F = Math.max(flows, shared?.flows ?? 0, 16);
    const D = Math.max(demands, shared?.demands ?? 0, 64);
    const R = Math.max(resources, shared?.resources ?? 0, 64);
    shared = {
      flows: F,
      demands: D,
      resources: R,
      start: new Int32Array(F + 1),
      fRate: new Float64Array(F),
      fMax: new Float64Array(F),
      fWeight: new Float64Array(F),
      classIdx: new Int32Array(F),
      active: new Int32Array(F),
      dRes: new Int32Array(D),
      dPer: new Float64Array(D),
      capacity: new Float64Array(R),
      usage: new Float64Array(R),
      remaining: new Float64Array(R),
      capLeft: new Float64Array(R),
      load: new Float64Array(R),
      touched: new Uint8Array(R),
      loaded: new Int32Array(R),
      saturated: new Uint8Array(R),
      seenInClass: new Uint8Array(R),
    };
  }
  return shared;
}

/** Progressive filling of one priority class: the `nClass` flows of `s.classIdx`. */
function fillClass(nClass: number, s: SolveScratch): void {
  const { start, dRes, dPer, fRate, fMax, fWeight, classIdx, active, capacity, capLeft, load, touched, loaded, saturated } = s;
  // Flows with a zero-demand on every resource are limited only by their own cap.
  let nActive = 0;
  for (let i = 0; i < nClass; i++) if (fMax[classIdx[i]!]! > 0) active[nActive++] = classIdx[i]!;
  while (nActive > 0) {
    // Find the smallest fill level lambda at which a constraint binds. Each active flow's rate is
    // weight * lambda (on top of what it already has).
    let lambda = Infinity;
    let nLoaded = 0;
    for (let i = 0; i < nActive; i++) {
      const f = active[i]!;
      const w = fWeight[f]!;
      lambda = Math.min(lambda, (fMax[f]! - fRate[f]!) / w);
      for (let d = start[f]!; d < start[f + 1]!; d++) {
        if (dPer[d]! <= 0) continue;
        const r = dRes[d]!;
        if (!touched[r]) {
          touched[r] = 1;
          load[r] = 0;
          loaded[nLoaded++] = r;
        }
        load[r] = load[r]! + w * dPer[d]!;
      }
    }
    for (let i = 0; i < nLoaded; i++) {
      const r = loaded[i]!;
      lambda = Math.min(lambda, capLeft[r]! / load[r]!);
    }
    if (!Number.isFinite(lambda)) lambda = 0;
    lambda = Math.max(0, lambda);
    for (let i = 0; i < nActive; i++) {
      const f = active[i]!;
      fRate[f] += fWeight[f]! * lambda;
    }
    // Freeze flows at their cap or touching a saturated resource.
    for (let i = 0; i < nLoaded; i++) {
      const r = loaded[i]!;
      capLeft[r] = Math.max(0, capLeft[r]! - load[r]! * lambda);
      saturated[r] = capLeft[r]! <= EPS * Math.max(1, capacity[r]!) ? 1 : 0;
    }
    // The flows still rising, kept in order in the same array.
    let rising = 0;
    for (let i = 0; i < nActive; i++) {
      const f = active[i]!;
      let frozen = fRate[f]! >= fMax[f]! * (1 - 1e-12);
      for (let d = start[f]!; !frozen && d < start[f + 1]!; d++) if (dPer[d]! > 0 && saturated[dRes[d]!]) frozen = true;
      if (!frozen) active[rising++] = f;
    }
    for (let i = 0; i < nLoaded; i++) {
      touched[loaded[i]!] = 0;
      saturated[loaded[i]!] = 0;
    }
    if (rising === nActive) break; // numerical corner: nothing binds any more
    nActive = rising;
  }
}
