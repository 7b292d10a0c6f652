import type { Simulator } from '../../core/simulator.js';

/**
 * A lane is one stream of iterations on a replica's GPUs (`compute` for single-stream policies,
 * `prefill` and `decode` for concurrent serving). An iteration is a unit of work whose duration
 * comes from the memoised cost model: `isoNs` when the lane runs alone, `coNs` while its partner
 * lane is also busy. Progress is fluid: when the partner starts or finishes an iteration, or the
 * CU split changes, the remaining fraction is carried over at the new rate. This is how pairs of
 * co-running iterations (memoised per shape pair and CU split) compose into a timeline without
 * simulating every kernel of every iteration.
 *
 * An iteration may begin with a host phase (the engine's own time before its GPU work,
 * host-overhead.ts): the lane is busy, but its GPU work has not started, so its partner runs at
 * its alone rate until it does. The recorded iteration, and `busyNs`, are the GPU phase.
 */
export interface LaneIteration {
  label: string;
  /** When the engine's host phase began, where the iteration had one (it ends at startNs). */
  hostStartNs?: number;
  startNs: number;
  endNs: number;
  cus: number;
  args?: Record<string, number | string>;
}

/** A scheduled wake-up of a lane: the generation it was set for, and what it then does. */
interface WakeUp {
  gen: number;
  action: 'beginGpu' | 'finish';
  readonly fire: () => void;
}

export class Lane {
  partner?: Lane;
  /** An iteration is in progress (its host phase or its GPU work). */
  busy = false;
  /** Its GPU work is running: what the partner's co-run rate depends on. */
  onGpu = false;
  private left = 0;
  private isoNs = 0;
  private coNs = 0;
  private lastNs = 0;
  /** Duration (ns for the whole iteration) in effect since lastNs. */
  private effNs = 0;
  private gen = 0;
  private startNs = 0;
  private hostStartNs = 0;
  private label = '';
  private cus = 0;
  private args?: Record<string, number | string>;
  private onDone?: () => void;
  /** Busy time of this lane (ns). */
  busyNs = 0;
  /** The iteration's dynamic energy alone (nJ) and the share of it drawn beside the partner's (`drawing`). */
  private aloneNj = 0;
  private coFactor = 1;
  /** Share of aloneNj drawn per unit of progress since lastNs. */
  private effFactor = 1;
  /** Wake-ups whose events have fired, for the next schedule (wakeAfter). */
  private readonly spareWakeUps: WakeUp[] = [];

  constructor(
    readonly sim: Simulator,
    readonly name: string,
    private readonly record?: (lane: Lane, it: LaneIteration) => void,
    /** Where the energy its iterations draw over static power goes, per GPU (nJ): the replica's. */
    private readonly energy?: { dynamicEnergyNj: number },
  ) {}

  /**
   * The dynamic energy (nJ, over static power, per GPU) of the iteration about to start, or of the
   * running one from now on, as alone, and the share of it drawn per unit of progress while the
   * partner's GPU work runs beside it (CorunResult's energy factors): drawn as progress is made.
   */
  drawing(aloneNj: number, coFactor = 1): void {
    if (this.onGpu) this.settle();
    this.aloneNj = aloneNj;
    this.coFactor = coFactor;
    if (this.onGpu) this.effFactor = this.partner?.onGpu ? coFactor : 1;
  }

  /**
   * Starts an iteration whose GPU work takes `isoNs` alone and `coNs` beside the partner's, after
   * `hostNs` of the engine's own time; `onDone` runs when it completes.
   */
  start(isoNs: number, coNs: number, label: string, cus: number, onDone: () => void, args?: Record<string, number | string>, hostNs = 0): void {
    if (this.busy) throw new Error(`lane ${this.name}: iteration started while busy`);
    this.busy = true;
    this.isoNs = Math.max(0, isoNs);
    this.coNs = Math.max(this.isoNs, coNs);
    this.label = label;
    this.cus = cus;
    this.args = args;
    this.onDone = onDone;
    this.hostStartNs = this.sim.nowNs;
    if (hostNs > 0) this.wakeAfter(hostNs, ++this.gen, 'beginGpu');
    else this.beginGpu();
  }

  private beginGpu(): void {
    this.onGpu = true;
    this.left = 1;
    this.lastNs = this.sim.nowNs;
    this.startNs = this.sim.nowNs;
    this.schedule();
    this.partner?.retimeForPartner();
  }

  /** Changes the durations of the running iteration (e.g. the CU split changed); progress is kept. */
  retime(isoNs: number, coNs: number, cus?: number): void {
    if (!this.busy) return;
    this.isoNs = Math.max(0, isoNs);
    this.coNs = Math.max(this.isoNs, coNs);
    if (cus !== undefined) this.cus = cus;
    // In the host phase the new durations apply when the GPU work starts.
    if (!this.onGpu) return;
    // Progress so far at the old rate (effNs), the rest at the new one.
    this.settle();
    this.schedule();
  }

  private retimeForPartner(): void {
    if (!this.onGpu) return;
    this.settle();
    this.schedule();
  }

  private currentNs(): number {
    return this.partner?.onGpu ? this.coNs : this.isoNs;
  }

  private settle(): void {
    const now = this.sim.nowNs;
    const d = this.effNs;
    this.progress(d > 0 ? Math.min(this.left, (now - this.lastNs) / d) : this.left);
    this.lastNs = now;
  }

  private progress(fraction: number): void {
    this.left -= fraction;
    if (this.energy) this.energy.dynamicEnergyNj += fraction * this.aloneNj * this.effFactor;
  }

  private schedule(): void {
    const g = ++this.gen;
    this.effNs = this.currentNs();
    this.effFactor = this.partner?.onGpu ? this.coFactor : 1;
    this.wakeAfter(this.left * this.effNs, g, 'finish');
  }

  /**
   * Wakes the lane after `delayNs` to `action`, unless it was rescheduled meanwhile (the generation
   * moved on: a retimed iteration leaves its earlier wake-up queued, and that one does nothing).
   * Wake-ups are reused once they fired: a closure per schedule (two or three an iteration) was a
   * steady share of a serving run's allocation.
   */
  private wakeAfter(delayNs: number, gen: number, action: 'beginGpu' | 'finish'): void {
    const w = this.spareWakeUps.pop() ?? this.newWakeUp();
    w.gen = gen;
    w.action = action;
    this.sim.after(delayNs, w.fire);
  }

  private newWakeUp(): WakeUp {
    const w: WakeUp = {
      gen: 0,
      action: 'finish',
      fire: () => {
        const { gen, action } = w;
        this.spareWakeUps.push(w);
        if (gen !== this.gen) return;
        if (action === 'finish') this.finish();
        else this.beginGpu();
      },
    };
    return w;
  }

  private finish(): void {
    const now = this.sim.nowNs;
    this.progress(this.left);
    this.busy = false;
    this.onGpu = false;
    this.gen++;
    this.busyNs += now - this.startNs;
    if (this.record) {
      const hostStartNs = this.hostStartNs < this.startNs ? this.hostStartNs : undefined;
      this.record(this, { label: this.label, hostStartNs, startNs: this.startNs, endNs: now, cus: this.cus, args: this.args });
    }
    const done = this.onDone!;
    this.onDone = undefined;
    this.partner?.retimeForPartner();
    done();
  }
}
