import { EventQueue } from './event-queue.js';
import { solveRates, type FlowDemand, type FlowState, type Resource } from './flow-network.js';
import { StatsRegistry } from './stats.js';

/**
 * The discrete-event core: timed events plus fluid flows over shared resources.
 *
 * Between two events every flow progresses at a constant rate, so the simulator jumps straight to
 * the next event or the next flow milestone/completion. Rates are re-solved only when the set of
 * flows or a capacity changes. Time is float64 ns. Resources (makeResource) need no registering:
 * one takes part through the flows that demand it, and only those in use are visited per event.
 */
export interface FlowSpec {
  name: string;
  /** Work units to complete (bytes for a transfer, 1 for a normalised kernel). */
  amount: number;
  /** What a unit takes of each resource. The flow keeps this list (leave it alone after startFlow). */
  demands: FlowDemand[];
  /** Upper bound on progress rate (units per ns), e.g. a kernel's compute-bound rate. */
  maxRate?: number;
  weight?: number;
  priority?: number;
  /** Callbacks when progress reaches given amounts (ascending), e.g. a GEMM output chunk done. */
  milestones?: Milestone[];
  onComplete?: () => void;
}

export interface Milestone {
  at: number;
  fire: () => void;
}

export interface Flow extends FlowState {
  readonly spec: FlowSpec;
  /**
   * The spec's milestones, read by the solver as it goes: a component may put one of its own in
   * (in order, past `nextMilestone`) by replacing the list. Held here, not read through `spec`:
   * specs come in many shapes, and each new one the event loop met through `spec` threw away its
   * compiled code (a quarter of a short T3 sweep's deoptimizations).
   */
  milestones: readonly Milestone[];
  nextMilestone: number;
  /** The spec's completion callback, held for the same reason. */
  readonly onComplete: (() => void) | undefined;
  finished: boolean;
  startNs: number;
}

/** Most re-solves one solve may take for its hooks (onSolved): a guard, far above what they use. */
const MAX_SOLVE_PASSES = 64;

const NO_MILESTONES: readonly Milestone[] = Object.freeze([]);

/**
 * The demands a flow keeps: those with work per unit. Most specs have no other, and then the
 * flow keeps the spec's own list rather than a copy (a list per flow, every DMA step and GEMM
 * stage of the T3 study): a spec's list is the flow's from startFlow on.
 */
function positiveDemands(demands: FlowDemand[]): FlowDemand[] {
  for (let i = 0; i < demands.length; i++) if (!(demands[i]!.perUnit > 0)) return demands.filter((d) => d.perUnit > 0);
  return demands;
}

export class Simulator {
  nowNs = 0;
  readonly stats = new StatsRegistry();
  private events = new EventQueue();
  private flows: Flow[] = [];
  /** The resources in use (usage > 0) since the last solve: the only ones time advances. */
  private busyResources: Resource[] = [];
  /** settleFlows' empty list of completed flows, for its next call. */
  private spareReached: Flow[] | undefined = [];
  private dirty = false;
  private nextFlowId = 0;
  private stopped = false;
  eventsProcessed = 0;
  /** Solves of the rates so far, each pass of one counted (a stamp for what is read off the rates: KernelPace.workShare). */
  solves = 0;
  /** Called after every solve of the rates, in order (onSolved). */
  private readonly solvedHooks: Array<(pass: number) => void> = [];

  /**
   * Ends run() once the event firing now returns: what is still queued or flowing stays unfinished
   * (a serving run whose measured requests are all done need not drain the load behind them).
   */
  stop(): void {
    this.stopped = true;
  }

  at(timeNs: number, fire: () => void): void {
    if (timeNs < this.nowNs) timeNs = this.nowNs;
    this.events.push(timeNs, fire);
  }

  after(delayNs: number, fire: () => void): void {
    this.at(this.nowNs + Math.max(0, delayNs), fire);
  }

  setCapacity(resource: Resource, capacity: number): void {
    resource.capacity = capacity;
    this.dirty = true;
  }

  /**
   * Brings flow rates and resource usage up to date with the flows as they are now. Within an
   * event they may be stale (run() solves them only before time moves on): an event that reads a
   * rate or a usage calls this first.
   */
  settleRates(): void {
    if (this.dirty) this.solve();
  }

  /**
   * Calls `hook` after every solve of the rates, with the pass: 0 for a solve of changed flows, 1, 2
   * ... for the solves that follow at once because a hook marked the rates stale again (a power
   * governor that sets the clock by the rates the kernels got). A hook may change what the flows
   * demand (invalidateRates) only a bounded number of passes: it must leave the rates alone from
   * some pass on, or the solve throws.
   */
  onSolved(hook: (pass: number) => void): void {
    this.solvedHooks.push(hook);
  }

  /** Marks rates stale, e.g. after an arbitration policy changed a share cap. */
  invalidateRates(): void {
    this.dirty = true;
  }

  /** Changes a running flow's rate cap (a throttled or stalled producer); rates are re-solved. */
  setMaxRate(flow: Flow, maxRate: number): void {
    (flow as { maxRate: number }).maxRate = Math.max(0, maxRate);
    this.dirty = true;
  }

  /** Moves a running flow to another priority class (an arbiter changing who goes first); rates are re-solved. */
  setPriority(flow: Flow, priority: number): void {
    (flow as { priority: number }).priority = priority;
    this.dirty = true;
  }

  get activeFlows(): readonly Flow[] {
    return this.flows;
  }

  startFlow(spec: FlowSpec): Flow {
    const flow: Flow = {
      id: this.nextFlowId++,
      name: spec.name,
      amount: spec.amount,
      demands: positiveDemands(spec.demands),
      maxRate: spec.maxRate ?? Infinity,
      weight: spec.weight ?? 1,
      priority: spec.priority ?? 0,
      done: 0,
      rate: 0,
      spec,
      milestones: spec.milestones ?? NO_MILESTONES,
      nextMilestone: 0,
      onComplete: spec.onComplete,
      finished: false,
      startNs: this.nowNs,
    };
    if (flow.amount <= 0) {
      // Nothing to move: complete at once, but through the event queue to keep ordering uniform.
      this.after(0, () => this.finish(flow));
      flow.finished = true;
      return flow;
    }
    this.flows.push(flow);
    this.dirty = true;
    return flow;
  }

  cancelFlow(flow: Flow): void {
    const i = this.flows.indexOf(flow);
    if (i >= 0) {
      this.flows.splice(i, 1);
      flow.finished = true;
      this.dirty = true;
    }
  }

  /** Runs until no events and no flows remain (or until `untilNs`, or stop()). Returns the final time. */
  run(untilNs = Infinity): number {
    this.stopped = false;
    for (;;) {
      if (this.stopped) break;
      const tEvent = this.events.peekTimeNs();
      // Events due now fire before time moves, and often change the flows again (a kernel's end
      // starts the next): rates solved in between would be solved again before any progress used
      // them (55% of the T3 study's solves). They are solved when time is about to move, or when
      // an event asks for them (settleRates).
      if (tEvent === this.nowNs && tEvent <= untilNs) {
        const fire = this.events.popFire()!;
        this.eventsProcessed++;
        fire();
        continue;
      }
      if (this.dirty) this.solve();
      let tFlow = Infinity;
      for (const f of this.flows) {
        if (f.rate <= 0) continue;
        const target = this.nextTarget(f);
        const t = this.nowNs + (target - f.done) / f.rate;
        if (t < tFlow) tFlow = t;
      }
      const t = Math.min(tEvent, tFlow);
      if (t === Infinity) {
        if (this.flows.length > 0) {
          const names = this.flows.slice(0, 3).map((f) => f.name).join(', ');
          throw new Error(`simulation stalled at ${this.nowNs} ns: flows with no bandwidth (${names})`);
        }
        break;
      }
      if (t > untilNs) {
        this.advance(untilNs);
        break;
      }
      this.advance(t);
      if (tEvent <= t) {
        const fire = this.events.popFire()!;
        this.eventsProcessed++;
        fire();
      } else {
        // Float time cannot represent a last step shorter than its resolution (ulp of nowNs): a
        // flow due "now" would never get there. Snap such flows to their target.
        for (const f of this.flows) {
          if (f.rate > 0 && this.nowNs + (this.nextTarget(f) - f.done) / f.rate <= this.nowNs) f.done = Math.max(f.done, this.nextTarget(f));
        }
        this.settleFlows();
      }
    }
    return this.nowNs;
  }

  private nextTarget(f: Flow): number {
    const ms = f.milestones;
    if (f.nextMilestone < ms.length) return Math.min(ms[f.nextMilestone]!.at, f.amount);
    return f.amount;
  }

  private advance(t: number): void {
    const dt = t - this.nowNs;
    if (dt > 0) {
      for (const f of this.flows) f.done += f.rate * dt;
      for (const r of this.busyResources) {
        r.usedIntegral += r.usage * dt;
        if (r.timeline) {
          const last = r.timeline[r.timeline.length - 1];
          if (last && last.endNs === this.nowNs && last.usage === r.usage) last.endNs = t;
          else r.timeline.push({ startNs: this.nowNs, endNs: t, usage: r.usage });
        }
      }
    }
    this.nowNs = t;
  }

  /** Fires milestones and completions that the last advance reached. */
  private settleFlows(): void {
    // A list reused from the last call (this runs at every flow milestone: T3's DMA and GEMM
    // batches); taken out while in use, in case a completion runs the loop again.
    const reached = this.spareReached ?? [];
    this.spareReached = undefined;
    for (const f of this.flows) {
      const tol = 1e-9 * Math.max(1, f.amount);
      const ms = f.milestones;
      while (f.nextMilestone < ms.length && ms[f.nextMilestone]!.at <= f.done + tol) {
        const m = ms[f.nextMilestone++]!;
        this.eventsProcessed++;
        m.fire();
      }
      if (f.done >= f.amount - tol) reached.push(f);
    }
    for (const f of reached) {
      const i = this.flows.indexOf(f);
      if (i >= 0) this.flows.splice(i, 1);
      f.done = f.amount;
      this.finish(f);
    }
    if (reached.length) this.dirty = true;
    reached.length = 0;
    this.spareReached = reached;
  }

  private finish(flow: Flow): void {
    flow.finished = true;
    this.eventsProcessed++;
    flow.onComplete?.();
  }

  private solve(): void {
    const hooks = this.solvedHooks;
    for (let pass = 0; ; pass++) {
      // The last solve's list of busy resources is reset, then refilled with this solve's.
      this.busyResources = solveRates(this.flows, this.busyResources, this.busyResources);
      this.dirty = false;
      this.solves++;
      for (let h = 0; h < hooks.length; h++) hooks[h]!(pass);
      if (!this.dirty) return;
      if (pass >= MAX_SOLVE_PASSES) throw new Error(`rates still changing after ${MAX_SOLVE_PASSES} solves at ${this.nowNs} ns (an onSolved hook must settle)`);
    }
  }
}
