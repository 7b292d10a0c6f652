import { SilicaError } from '../../core/errors.js';
import { Registry } from '../../core/registry.js';
import type { ArbitrationConfig } from '../config/schema.js';

/**
 * Memory-controller arbitration policies (Ramulator-style: one file in policies/, one line in
 * policies/index.ts). The controller (arbitration.ts) samples its HBM every
 * `memory.arbitration.sample_ns`: total utilisation (from the flow solver), the producer's share,
 * hence communication's. A policy turns that into
 * - the producer's loaded latency (latency.ts), hence its speed: a producer stalls once the latency
 *   exceeds what it prefetches (T3's contention: mission.md §2, T3 without MCA 20% vs 30% with);
 * - a cap on the communication class's share of the channel (MCA's occupancy threshold).
 */
export interface Sample {
  nowNs: number;
  /** Utilisation of the HBM by all flows (0..1). */
  uTotal: number;
  /** Utilisation by the producer alone. */
  uProducer: number;
  /** Whether communication flows are active on this HBM (evaluated only when a policy asks). */
  commActive: () => boolean;
  /**
   * Work left on this GPU where the run reports it (a fused GEMM + RS); evaluated only when a policy
   * asks. The reporter may rewrite one object at every ask: read it, keep none of it.
   */
  workLeft: () => WorkLeft | undefined;
}

/**
 * What a fused run tells its memory controllers, as a tracker and DMA command table could: the
 * producer's work left at its pace so far, the communication's at the fastest its links and
 * engines take it, and the part of that which must follow the producer's end whatever the
 * arbitration (the last ring step).
 */
export interface WorkLeft {
  producerNs: number;
  commNs: number;
  commTailNs: number;
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
  /**
   * For a policy that switches between other policies' rules at run time (mca-adaptive: mca's or
   * fair's): the arbiter whose producer priority and latency law hold until the next sample. The
   * controller asks after each `commCap`. Absent: this arbiter's own, always.
   */
  active?(): Arbiter;
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

