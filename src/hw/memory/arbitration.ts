import type { Resource } from '../../core/flow-network.js';
import type { Flow } from '../../core/simulator.js';
import type { ArbitrationConfig } from '../config/schema.js';
import type { Gpu } from '../gpu/gpu.js';
import type { System } from '../system.js';
import { arbitrationPolicy, type Arbiter, type Sample, type WorkLeft } from './arbiter.js';
import { latencyBoundSpeed } from './latency.js';
import './policies/index.js';
import { speedMemoFor } from './speed-memo.js';

/**
 * The per-HBM memory controller that applies an arbitration policy (arbiter.ts, policies/) to a
 * producer kernel and the communication around it, and the sampler that drives the controllers of
 * a system. Importing this module registers every built-in policy.
 */
export { arbitrationPolicies, arbitrationPolicy, registerArbitrationPolicy, DEFAULT_PRIORITY } from './arbiter.js';
export type { Arbiter, ArbitrationPolicy, Sample, WorkLeft } from './arbiter.js';

/** A producer kernel registered with its GPU's controller (one stage flow at a time). */
export interface ProducerSlot {
  /** The running stage's flow, or undefined between stages. */
  flow?: Flow;
  /** Full-speed progress rate of the current stage (1 / stage critical path). */
  baseMaxRate: number;
  /** Local-HBM DRAM time (bytes) per unit progress of the current stage. */
  hbmPerUnit: number;
  /** Loaded latency the producer hides (resident workgroups x prefetched iterations x iteration time). */
  hiddenNs: number;
  /** Time between the producer's loads of one workgroup (hiddenNs / iterations prefetched). */
  iterationNs: number;
  /** Held by the tracker (table full, `stall` overflow mode). */
  stalled: boolean;
  /** Latency-bound speed factor last applied. */
  speed: number;
}

/** One HBM's controller: samples, asks the policy, throttles the producer, caps communication. */
export class MemoryController {
  readonly arbiter: Arbiter;
  private producer?: ProducerSlot;
  /** Work left around the producer, where the run reports it. */
  private reportedWorkLeft?: () => WorkLeft;
  private readonly workLeft = (): WorkLeft | undefined => this.reportedWorkLeft?.();
  private commCap?: number;
  /** Producer time lost to loaded latency (ns of full-speed work), for reports. */
  slowedNs = 0;
  private lastComm = NaN;
  private lastFull = NaN;
  private lastHidden = NaN;
  private lastSpeed = 1;
  private lastRules?: Arbiter;
  /**
   * The sample handed to the policy, rewritten every period: a policy reads it inside commCap and
   * keeps none of it, and a fresh object per period per GPU (with the closure the speed solve
   * captured) was a third of what the T3 study allocated.
   */
  private readonly current: Sample = { nowNs: 0, uTotal: 0, uProducer: 0, commActive: () => false, workLeft: this.workLeft };

  constructor(
    readonly gpu: Gpu,
    config: ArbitrationConfig,
    /** Starts the sampler when a producer attaches. */
    private readonly wake: () => void = () => {},
  ) {
    this.arbiter = arbitrationPolicy(config.policy).create(config);
  }

  /** The rules in force until the next sample: the policy's own, or those it switched to. */
  private get rules(): Arbiter {
    return this.arbiter.active?.() ?? this.arbiter;
  }

  /** Flow priority a producer stage starting now takes. */
  get producerPriority(): number {
    return this.rules.computePriority;
  }

  get hasProducer(): boolean {
    return this.producer !== undefined;
  }

  attach(slot: ProducerSlot): void {
    if (this.producer) throw new Error(`gpu${this.gpu.index}: a producer is already attached to its memory controller`);
    this.producer = slot;
    this.wake();
  }

  /** Lets a fused run report the work left on this GPU (Sample.workLeft); undefined stops the reports. */
  reportWorkLeft(workLeft: (() => WorkLeft) | undefined): void {
    this.reportedWorkLeft = workLeft;
  }

  detach(): void {
    this.producer = undefined;
    this.setCommCap(undefined);
  }

  /** Applies the slot's stall flag and speed to its current flow. */
  apply(slot: ProducerSlot): void {
    if (slot.flow && !slot.flow.finished) this.gpu.sim.setMaxRate(slot.flow, slot.stalled ? 0 : slot.baseMaxRate * slot.speed);
  }

  /** Reads usage and rates: the caller settles them first (Simulator.settleRates). */
  sample(sampleNs: number, commWaiting: () => boolean): void {
    const slot = this.producer;
    if (!slot) return;
    const hbm = this.gpu.hbm;
    const cap = hbm.capacity;
    const flow = slot.flow && !slot.flow.finished ? slot.flow : undefined;
    const uTotal = hbm.usage / cap;
    const uProducer = flow ? (flow.rate * slot.hbmPerUnit) / cap : 0;
    const uComm = Math.max(0, uTotal - uProducer);
    const sim = this.gpu.sim;
    // Asked first: a policy may switch the rules (priority, latency law) for the coming period.
    const current = this.current;
    current.nowNs = sim.nowNs;
    current.uTotal = uTotal;
    current.uProducer = uProducer;
    current.commActive = commWaiting;
    const commCap = this.arbiter.commCap(current);
    const rules = this.rules;
    if (flow && flow.priority !== rules.computePriority) sim.setPriority(flow, rules.computePriority);
    if (flow && !slot.stalled) {
      const uFull = (slot.baseMaxRate * slot.hbmPerUnit) / cap;
      // The fixed point depends only on these; most samples see the same state (skip the solve).
      if (uComm !== this.lastComm || uFull !== this.lastFull || slot.hiddenNs !== this.lastHidden || rules !== this.lastRules) {
        this.lastComm = uComm;
        this.lastFull = uFull;
        this.lastHidden = slot.hiddenNs;
        this.lastRules = rules;
        this.lastSpeed = this.producerSpeed(slot, rules, uComm, uFull);
      }
      const speed = this.lastSpeed;
      if (speed < 1) this.slowedNs += (1 - speed) * sampleNs;
      if (Math.abs(speed - slot.speed) > 0.005 * slot.speed) {
        slot.speed = speed;
        this.apply(slot);
      }
    }
    this.setCommCap(commCap);
  }

  /**
   * The producer's latency-bound speed in this state. A method of its own: the closures it builds
   * would otherwise make every sample() call allocate their context, state changed or not.
   */
  private producerSpeed(slot: ProducerSlot, rules: Arbiter, uComm: number, uFull: number): number {
    const idle = this.gpu.hw.memory.hbm.latency_ns;
    const law = rules.latencyLaw;
    const memo = law !== undefined ? speedMemoFor(law) : undefined;
    const known = memo ? memo.find(idle, slot.hiddenNs, slot.iterationNs, uComm, uFull) : NaN;
    if (!Number.isNaN(known)) return known;
    const speed = solveProducerSpeed(slot, rules, idle, uComm, uFull);
    memo?.remember(idle, slot.hiddenNs, slot.iterationNs, uComm, uFull, speed);
    return speed;
  }

  private setCommCap(cap: number | undefined): void {
    if (cap === this.commCap || (cap !== undefined && this.commCap !== undefined && Math.abs(cap - this.commCap) < 1e-3)) return;
    this.commCap = cap;
    const hbm = this.gpu.hbm;
    if (cap === undefined) hbm.shareCapByPriority?.delete(this.arbiter.commPriority);
    else (hbm.shareCapByPriority ??= new Map()).set(this.arbiter.commPriority, cap);
    this.gpu.sim.invalidateRates();
  }
}

/** The latency-bound speed solved (a function of its own: the closures stay off the path of a remembered speed). */
function solveProducerSpeed(slot: ProducerSlot, rules: Arbiter, idle: number, uComm: number, uFull: number): number {
  return latencyBoundSpeed({ idleNs: idle, hiddenNs: slot.hiddenNs, iterationNs: slot.iterationNs }, (s) => rules.producerLatencyNs(idle, uComm + uFull * s, uFull * s));
}

/** The controllers of a System's GPUs under one arbitration config, with their common sampler. */
export class MemorySystem {
  readonly controllers: MemoryController[];
  private ticking = false;
  /**
   * Per controller, its Sample.commActive: built once, not a closure per controller per tick. They
   * share one set of the HBMs with communication waiting, found at most once a tick and only
   * when a policy asks (`waitingKnown` is cleared at each tick).
   */
  private readonly commActive: Array<() => boolean>;
  private readonly waiting = new Set<Resource>();
  private waitingKnown = false;

  constructor(
    readonly system: System,
    readonly config: ArbitrationConfig,
  ) {
    this.controllers = system.gpus.map((g) => new MemoryController(g, config, () => this.wake()));
    this.commActive = this.controllers.map((c) => () => this.commWaiting().has(c.gpu.hbm));
  }

  /** Starts sampling (idempotent); it stops by itself when no producer is attached. */
  wake(): void {
    if (this.ticking) return;
    this.ticking = true;
    const sim = this.system.sim;
    const dt = this.config.sample_ns;
    const tick = () => {
      // Every controller samples the rates as the flows stood when the tick fell, before any of
      // them throttles its producer (the event loop solves rates lazily: settled here, once).
      sim.settleRates();
      this.waitingKnown = false;
      let any = false;
      const controllers = this.controllers;
      for (let i = 0; i < controllers.length; i++) {
        const c = controllers[i]!;
        c.sample(dt, this.commActive[i]!);
        any ||= c.hasProducer;
      }
      if (any) sim.after(dt, tick);
      else this.ticking = false;
    };
    sim.after(0, tick);
  }

  /**
   * HBMs with communication-class flows active (capped or not) as the flows stand at the first
   * ask this tick; only MCA needs to know.
   */
  private commWaiting(): Set<Resource> {
    const out = this.waiting;
    if (this.waitingKnown) return out;
    this.waitingKnown = true;
    out.clear();
    const arb = this.controllers[0]?.arbiter;
    if (!arb || arb.commPriority === arb.computePriority) return out;
    for (const f of this.system.sim.activeFlows) {
      if (f.priority !== arb.commPriority) continue;
      for (const d of f.demands) out.add(d.resource);
    }
    return out;
  }
}
