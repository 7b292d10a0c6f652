import type { FlowDemand } from '../../core/flow-network.js';
import type { Link } from '../link/topology.js';

/**
 * A collective as a plan of explicit steps, every GPU's steps listed (no symmetry shortcut).
 *
 * A step moves `bytes` of payload from GPU `from` to GPU `to` (or works locally when they are
 * equal), executed by GPU `gpu`'s engine (its CUs or a DMA engine). Steps of one channel (a ring on
 * one GPU, one peer connection) run one at a time in the order they were added, like the thread
 * block of an NCCL channel; a step also waits for `deps` arrivals, i.e. for steps whose `next`
 * lists it to have delivered their data (after the path latency). Chunk pipelining comes from
 * ordering: a channel interleaves chunks so that while one chunk's data is in flight the channel
 * already works on another.
 */
export interface StepCost {
  /** DRAM bytes per payload byte on the executing side (`from`): reads of inputs and staging. */
  srcRead: number;
  /** Local writes on `from` (an output buffer), per payload byte. */
  srcWrite: number;
  /** Writes landing in `to`'s DRAM (staging or output buffer), per payload byte. */
  dstWrite: number;
  /** Near-memory op-and-store updates applied in `to`'s DRAM, per payload byte (x nmc cost). */
  dstUpdate: number;
}

export interface Step {
  gpu: number;
  channel: number;
  from: number;
  to: number;
  /**
   * Further receivers of the same bytes (a tree's send to several children: NCCL's primitives
   * write every peer in one loop), each written as `to` is (`cost.dst*` per receiver); the source
   * is read once.
   */
  also?: readonly number[];
  bytes: number;
  cost: StepCost;
  /** Arrivals still awaited before the step may start. */
  deps: number;
  /** Steps that each count this step's arrival as one dependency. */
  next: Step[];
  /**
   * Link demands other than the from -> to path (in-switch reduction touches every GPU's ports
   * and DRAM). When set, `ports` replaces the path and `hbm` the src/dst DRAM costs.
   */
  custom?: { ports: Link[]; hbm: Array<{ gpu: number; perUnit: number }>; latencyNs: number; linkPerUnit: number };
  /** Set by the executor. */
  done?: boolean;
}

export const COST = {
  /** Push a block as is into the peer's buffer. */
  push: { srcRead: 1, srcWrite: 0, dstWrite: 1, dstUpdate: 0 },
  /** Read the staged partial and the local block, push their sum (NCCL recvReduceSend). */
  reduceSend: { srcRead: 2, srcWrite: 0, dstWrite: 1, dstUpdate: 0 },
  /** Final sum: keep it locally and push it on (recvReduceCopySend). */
  reduceCopySend: { srcRead: 2, srcWrite: 1, dstWrite: 1, dstUpdate: 0 },
  /** Keep the staged block locally and push it on (recvCopySend). */
  copySend: { srcRead: 1, srcWrite: 1, dstWrite: 1, dstUpdate: 0 },
  /** Local: staged block to the output (recv). */
  recv: { srcRead: 1, srcWrite: 1, dstWrite: 0, dstUpdate: 0 },
  /** Local: staged partial + local block to the output (recvReduceCopy). */
  reduceCopy: { srcRead: 2, srcWrite: 1, dstWrite: 0, dstUpdate: 0 },
  /** DMA + near-memory compute: read the (accumulated) block, update the peer's copy in place. */
  update: { srcRead: 1, srcWrite: 0, dstWrite: 0, dstUpdate: 1 },
} as const satisfies Record<string, StepCost>;

/** A local reduction of `inputs` staged blocks plus the local one into the output. */
export function reduceLocal(inputs: number): StepCost {
  return { srcRead: inputs + 1, srcWrite: 1, dstWrite: 0, dstUpdate: 0 };
}

export class Plan {
  readonly steps: Step[] = [];
  private channels = 0;

  newChannel(): number {
    return this.channels++;
  }

  get channelCount(): number {
    return this.channels;
  }

  add(step: Omit<Step, 'next' | 'deps'> & { deps?: number }): Step {
    const s: Step = { gpu: step.gpu, channel: step.channel, from: step.from, to: step.to, bytes: step.bytes, cost: step.cost, deps: step.deps ?? 0, next: [], custom: step.custom };
    if (step.also && step.also.length > 0) s.also = step.also;
    this.steps.push(s);
    return s;
  }

  /** `after` waits for `before` to arrive. */
  link(before: Step, after: Step): void {
    before.next.push(after);
    after.deps++;
  }
}

/** Demands of a step on the simulator's resources, built by the engine. */
export type DemandBuilder = (step: Step) => FlowDemand[];
