import { SilicaError } from '../../core/errors.js';
import { Registry } from '../../core/registry.js';
import type { Resource } from '../../core/flow-network.js';
import type { Flow } from '../../core/simulator.js';
import type { ArbitrationConfig } from '../config/schema.js';
import type { Gpu } from '../gpu/gpu.js';
import type { System } from '../system.js';
import { fcfsLatencyNs, latencyBoundSpeed, priorityLatencyNs, utilisationAtOccupancy } from './latency.js';
import { speedMemoFor, type SpeedMemo } from './speed-memo.js';

/**
 * Memory-controller arbitration as pluggable policies (Ramulator-style: one file, one registration),
 * and the per-HBM controller that applies one to a producer kernel and the communication around it.
 *
 * The controller samples its HBM every `memory.arbitration.sample_ns`: total utilisation (from the
 * flow solver), the producer's share, hence communication's. The policy turns that into
 * - the producer's loaded latency (latency.ts), hence its speed: a producer stalls once the latency
 *   exceeds what it prefetches (T3's contention: mission.md §2, T3 without MCA 20% vs 30% with);
 * - a cap on the communication class's share of the channel (MCA's occupancy threshold).
 *
 * Policies:
 * - `fair`: FR-FCFS-like, one queue; bandwidth shared max-min per byte; everyone sees FCFS latency.
 * - `mca`: compute requests first (flow priority above communication, priority-queue latency for
 *   the producer); communication issues only while the queue occupancy stays under a threshold
 *   that shrinks with the producer's memory intensity, i.e. its DRAM utilisation u1 in its first
 *   stage (measured before any communication starts): q_th = occupancy_threshold x (1 - u1). A
 *   finite queue is why priority alone is not enough: communication filling the queue would keep
 *   compute requests out. A request held back longer than the starvation limit issues anyway.
 */
export interface Sample {
  nowNs: number;
  /** Utilisation of the HBM by all flows (0..1). */
  uTotal: number;
  /** Utilisation by the producer alone. */
  uProducer: number;
  /** Whether communication flows are active on this HBM (evaluated only when a policy asks). */
  commActive: () => boolean;
}

export interface Arbiter {
  readonly policy: string;
  /** Flow priority of the producer (compute) and of communication flows on this HBM. */
  readonly computePriority: number;
  readonly commPriority: number;
  /** Loaded latency the producer's loads see. */
  producerLatencyNs(idleNs: number, uTotal: number, uProducer: number): number;
  /**
   * Names producerLatencyNs's law where it is a pure function of its arguments (no policy state):
   * controllers whose policies share a law share the producer speeds worked out from it
   * (speed-memo.ts). A policy whose latency depends on its state leaves it out.
   */
  readonly latencyLaw?: string;
  /** Communication's share cap (fraction of capacity) until the next sample; undefined = none. */
  commCap(sample: Sample): number | undefined;
  /** The producer's first stage ended; `uProducer` = its mean utilisation during it. */
  firstStage(uProducer: number): void;
}

export interface ArbitrationPolicy {
  name: string;
  description: string;
  create(config: ArbitrationConfig): Arbiter;
}

const policies = new Registry<ArbitrationPolicy>('arbitration policy');

export function registerArbitrationPolicy(p: ArbitrationPolicy): void {
  policies.register(p.name, p);
}

export function arbitrationPolicy(name: string): ArbitrationPolicy {
  const p = policies.get(name);
  if (!p) throw new SilicaError(`memory.arbitration.policy: expected one of ${arbitrationPolicies().join(', ')}, got "${name}"`);
  return p;
}

export function arbitrationPolicies(): string[] {
  return policies.names();
}

/** Flow priority every unclassified kernel and transfer uses (Gpu.launch, dmaTransfer). */
export const DEFAULT_PRIORITY = 1;

registerArbitrationPolicy({
  name: 'fair',
  description: 'FR-FCFS-like: one queue, bandwidth shared per byte, FCFS latency for everyone',
  create: () => ({
    policy: 'fair',
    computePriority: DEFAULT_PRIORITY,
    commPriority: DEFAULT_PRIORITY,
    producerLatencyNs: (idle, uTotal) => fcfsLatencyNs(idle, uTotal),
    latencyLaw: 'fcfs',
    commCap: () => undefined,
    firstStage: () => {},
  }),
});

registerArbitrationPolicy({
  name: 'mca',
  description: 'T3 MCA: compute first; communication only under an occupancy threshold from the first stage, with a starvation limit',
  create: (config) => {
    let u1: number | undefined;
    let starvedSinceNs: number | undefined;
    // A cap below this leaves communication effectively blocked (a request every few µs).
    const blocked = 0.01;
    return {
      policy: 'mca',
      computePriority: DEFAULT_PRIORITY + 1,
      commPriority: DEFAULT_PRIORITY,
      producerLatencyNs: (idle, uTotal, uProducer) => priorityLatencyNs(idle, uTotal, uProducer),
      latencyLaw: 'priority',
      firstStage: (u) => {
        if (u1 === undefined) u1 = u;
      },
      commCap(s) {
        if (u1 === undefined) return undefined; // still measuring: the first stage has no communication
        const threshold = utilisationAtOccupancy(config.mca.occupancy_threshold * (1 - u1));
        const cap = Math.max(0, threshold - s.uProducer);
        if (cap < blocked && s.commActive()) {
          starvedSinceNs ??= s.nowNs;
          if (s.nowNs - starvedSinceNs >= config.mca.starvation_limit_ns) {
            starvedSinceNs = undefined;
            return undefined; // the held requests issue for one sample period
          }
        } else starvedSinceNs = undefined;
        return cap;
      },
    };
  },
});

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
  private commCap?: number;
  /** Producer time lost to loaded latency (ns of full-speed work), for reports. */
  slowedNs = 0;
  private lastComm = NaN;
  private lastFull = NaN;
  private lastHidden = NaN;
  private lastSpeed = 1;
  private readonly speeds: SpeedMemo | undefined;

  constructor(
    readonly gpu: Gpu,
    config: ArbitrationConfig,
    /** Starts the sampler when a producer attaches. */
    private readonly wake: () => void = () => {},
  ) {
    this.arbiter = arbitrationPolicy(config.policy).create(config);
    this.speeds = this.arbiter.latencyLaw !== undefined ? speedMemoFor(this.arbiter.latencyLaw) : undefined;
  }

  get hasProducer(): boolean {
    return this.producer !== undefined;
  }

  attach(slot: ProducerSlot): void {
    if (this.producer) throw new Error(`gpu${this.gpu.index}: a producer is already attached to its memory controller`);
    this.producer = slot;
    this.wake();
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
    if (flow && !slot.stalled) {
      const uFull = (slot.baseMaxRate * slot.hbmPerUnit) / cap;
      // The fixed point depends only on these; most samples see the same state (skip the solve).
      if (uComm !== this.lastComm || uFull !== this.lastFull || slot.hiddenNs !== this.lastHidden) {
        this.lastComm = uComm;
        this.lastFull = uFull;
        this.lastHidden = slot.hiddenNs;
        const idle = this.gpu.hw.memory.hbm.latency_ns;
        const solve = () =>
          latencyBoundSpeed({ idleNs: idle, hiddenNs: slot.hiddenNs, iterationNs: slot.iterationNs }, (s) => this.arbiter.producerLatencyNs(idle, uComm + uFull * s, uFull * s));
        this.lastSpeed = this.speeds ? this.speeds.speed(idle, slot.hiddenNs, slot.iterationNs, uComm, uFull, solve) : solve();
      }
      const speed = this.lastSpeed;
      if (speed < 1) this.slowedNs += (1 - speed) * sampleNs;
      if (Math.abs(speed - slot.speed) > 0.005 * slot.speed) {
        slot.speed = speed;
        this.apply(slot);
      }
    }
    this.setCommCap(this.arbiter.commCap({ nowNs: sim.nowNs, uTotal, uProducer, commActive: commWaiting }));
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

/** The controllers of a System's GPUs under one arbitration config, with their common sampler. */
export class MemorySystem {
  readonly controllers: MemoryController[];
  private ticking = false;

  constructor(
    readonly system: System,
    readonly config: ArbitrationConfig,
  ) {
    this.controllers = system.gpus.map((g) => new MemoryController(g, config, () => this.wake()));
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
      let waiting: Set<Resource> | undefined;
      let any = false;
      for (const c of this.controllers) {
        c.sample(dt, () => (waiting ??= this.commWaiting()).has(c.gpu.hbm));
        any ||= c.hasProducer;
      }
      if (any) sim.after(dt, tick);
      else this.ticking = false;
    };
    sim.after(0, tick);
  }

  /** HBMs with communication-class flows active (capped or not); only MCA needs to know. */
  private commWaiting(): Set<Resource> {
    const out = new Set<Resource>();
    const arb = this.controllers[0]?.arbiter;
    if (!arb || arb.commPriority === arb.computePriority) return out;
    for (const f of this.system.sim.activeFlows) {
      if (f.priority !== arb.commPriority) continue;
      for (const d of f.demands) out.add(d.resource);
    }
    return out;
  }
}
