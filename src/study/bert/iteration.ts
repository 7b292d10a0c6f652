import { SilicaError } from '../../core/errors.js';
import { COLLECTIVE_KINDS, type CollectiveKind } from '../../hw/collectives/index.js';
import { OP_CATEGORIES, PASSES, type OpCategory, type Pass } from '../../kernels/types.js';
import type { KernelDesc } from '../../kernels/desc.js';
import { boardJ } from '../../hw/gpu/power.js';
import { bucketBytesFromMib, buildTrainingTrace, getModel, matmulFlops, type ZeroStage } from '../../sw/index.js';
import { programOf, type Trace } from '../../trace/types.js';
import type { HardwareCoster } from './coster.js';
import { precisionOf, type BertPoint } from './point.js';

/** Time, work and kernel count of one (category, pass) cell of the breakdown. */
export interface Cell {
  category: OpCategory;
  pass: Pass;
  timeNs: number;
  flops: number;
  bytes: number;
  kernels: number;
}

/** A distinct kernel of the iteration (same role, pass and shape), for gemms.csv and the roofline. */
export interface KernelRecord {
  role: string;
  pass: Pass;
  category: OpCategory;
  desc: KernelDesc;
  /** Launches per iteration. */
  count: number;
  timeNs: number;
  flops: number;
  bytes: number;
  bound: 'memory' | 'compute';
}

export interface IterationResult {
  point: BertPoint;
  trace: Trace;
  iterationNs: number;
  /** Sum of compute-stream node times. */
  computeNs: number;
  /** Time data-parallel all-reduces run (overlapped or not). */
  commBusyNs: number;
  /** Communication the compute stream waits for: iteration - compute (the part not hidden). */
  commExposedNs: number;
  /** Compute-stream time in memory-bound kernels. */
  memoryBoundNs: number;
  cells: Cell[];
  flops: number;
  matmulFlops: number;
  bytes: number;
  samplesPerIteration: number;
  samplesPerSecond: number;
  kernels: KernelRecord[];
  /**
   * One GPU's board energy over the iteration (J), where the part models its power
   * (compute.power): static power throughout plus each compute kernel's power over static while
   * it runs (as alone: the compute stream runs one kernel at a time). Collectives add none.
   */
  boardEnergyJ?: number;
}

/** Layer prefix and micro-batch / recompute suffixes stripped: "l3.ffn.fc1.wgrad.mb2" -> "ffn.fc1.wgrad". */
export function kernelRole(name: string): string {
  return name.replace(/^l\d+\./, '').replace(/(\.recompute)?(\.mb\d+)?$/, '');
}

/**
 * One training iteration of one GPU: the trace from the graph builder, replayed as two streams.
 * Compute-stream nodes run one after another for their kernel's isolated time; data-parallel
 * all-reduces run on the comm stream when their gradients exist (overlap) or after backward, one
 * at a time; the optimizer waits for all of them. The overlap is contention-free here (kernels and
 * the all-reduce do not slow each other down): the engine-level replay models that interference,
 * this study isolates the first-order effects.
 *
 * The breakdown is compute-stream time per (category, pass) plus the exposed communication, so
 * the cells sum to the iteration time exactly.
 */
export function simulateIteration(point: BertPoint, coster: HardwareCoster): IterationResult {
  const model = getModel(point.model);
  const { precision, mixedDtype } = precisionOf(point.precision);
  const trace = buildTrainingTrace(model, {
    batch: point.batch,
    seq: point.seq,
    precision,
    mixedDtype,
    optimizer: point.optimizer,
    optimizerImpl: point.optimizer_impl,
    zeroStage: point.zero_stage as ZeroStage,
    microBatches: point.micro_batches,
    tp: point.tp,
    sequenceParallel: point.sequence_parallel,
    dp: point.dp,
    recompute: point.recompute,
    flashAttention: point.flash_attention,
    fuseBiasAct: point.fuse_bias_act,
    overlapGradAllReduce: point.overlap,
    bucketBytes: bucketBytesFromMib(point.bucket_mb),
  });
  return replayIteration(point, trace, coster);
}

/** simulateIteration's replay of a trace already built for `point` (rank 0's program). */
export function replayIteration(point: BertPoint, trace: Trace, coster: HardwareCoster): IterationResult {
  const nodes = programOf(trace, 0);
  const end = new Float64Array(nodes.length);
  const streamFree = new Map<string, number>();
  const cells = new Map<string, Cell>();
  const kernels = new Map<string, KernelRecord>();
  let computeNs = 0;
  let computeEnd = 0;
  let commBusyNs = 0;
  let memoryBoundNs = 0;
  let flops = 0;
  let mmFlops = 0;
  let bytes = 0;
  let dynamicEnergyNj = 0;
  const cell = (category: OpCategory, pass: Pass) => {
    const key = `${category}/${pass}`;
    let c = cells.get(key);
    if (!c) cells.set(key, (c = { category, pass, timeNs: 0, flops: 0, bytes: 0, kernels: 0 }));
    return c;
  };
  // Time the compute stream waited on communication, by the pass of what it waited for (ZeRO-3's
  // forward gathers, the gradients' reductions); the backward's share is what the others leave.
  let fwdWaitNs = 0;
  for (const n of nodes) {
    const free = streamFree.get(n.stream) ?? 0;
    let start = free;
    let waitedFor = -1;
    for (const d of n.deps) {
      if (end[d]! > start) {
        start = end[d]!;
        waitedFor = d;
      }
    }
    if (n.stream === 'compute' && waitedFor >= 0 && nodes[waitedFor]!.pass === 'fwd') fwdWaitNs += start - free;
    let dur = 0;
    if (n.kind === 'kernel' && n.kernel) {
      const k = coster.kernel(n.kernel);
      dur = k.timeNs;
      dynamicEnergyNj += k.dynamicEnergyNj;
      const c = cell(n.category, n.pass);
      c.flops += k.flops;
      c.bytes += k.bytes;
      c.kernels++;
      flops += k.flops;
      mmFlops += matmulFlops(n.kernel);
      bytes += k.bytes;
      if (k.bound === 'memory') memoryBoundNs += dur;
      const role = kernelRole(n.name);
      const key = `${n.pass}|${role}|${k.cost.shape ? JSON.stringify(k.cost.shape) : ''}`;
      const rec = kernels.get(key);
      if (rec) rec.count++;
      else kernels.set(key, { role, pass: n.pass, category: n.category, desc: n.kernel, count: 1, timeNs: k.timeNs, flops: k.flops, bytes: k.bytes, bound: k.bound });
    } else if (n.kind === 'collective' && n.collective) {
      // An empty group is every rank; rank 0's groups with both tensor and data parallelism are
      // listed: its TP group GPUs 0..tp-1, its DP group every tp-th GPU.
      const group = n.collective.group.length ? n.collective.group : trace.worldSize;
      const kind = n.collective.kind;
      if (!(COLLECTIVE_KINDS as readonly string[]).includes(kind)) throw new SilicaError(`${n.name}: collective ${kind} has no cost model in the BERT study`);
      dur = coster.collectiveNs(kind as CollectiveKind, n.collective.bytes, group, trace.worldSize);
    } else if (n.durationNs) {
      dur = n.durationNs;
    }
    end[n.id] = start + dur;
    streamFree.set(n.stream, start + dur);
    if (n.stream === 'compute') {
      computeNs += dur;
      if (start + dur > computeEnd) computeEnd = start + dur;
      const c = cell(n.category, n.pass);
      c.timeNs += dur;
      if (n.kind === 'collective') c.kernels++;
    } else {
      commBusyNs += dur;
    }
  }
  let iterationNs = 0;
  for (let i = 0; i < end.length; i++) if (end[i]! > iterationNs) iterationNs = end[i]!;
  const commExposedNs = Math.max(0, iterationNs - computeNs);
  if (commBusyNs > 0) {
    // What runs past the last compute node and belongs to the optimizer pass (ZeRO-1/2's weight
    // all-gather) is the optimizer's exposed communication; waits for forward's communication
    // (ZeRO-3's gathers) the forward's; the rest is the gradients'.
    const commNodes: Record<Pass, number> = { fwd: 0, bwd: 0, opt: 0 };
    for (const n of nodes) if (n.stream !== 'compute') commNodes[n.pass]++;
    const optExposed = commNodes.opt > 0 ? Math.min(commExposedNs, Math.max(0, iterationNs - computeEnd)) : 0;
    if (commNodes.fwd > 0) {
      const fwd = cell('communication', 'fwd');
      fwd.timeNs += fwdWaitNs;
      fwd.kernels += commNodes.fwd;
    }
    const bwd = cell('communication', 'bwd');
    bwd.timeNs += commExposedNs - optExposed - fwdWaitNs;
    bwd.kernels += commNodes.bwd;
    if (commNodes.opt > 0) {
      const opt = cell('communication', 'opt');
      opt.timeNs += optExposed;
      opt.kernels += commNodes.opt;
    }
  }
  const ordered = [...cells.values()].sort((a, b) => OP_CATEGORIES.indexOf(a.category) - OP_CATEGORIES.indexOf(b.category) || PASSES.indexOf(a.pass) - PASSES.indexOf(b.pass));
  const samplesPerIteration = point.batch * point.micro_batches * point.dp;
  const power = coster.hw.compute.power;
  return {
    ...(power ? { boardEnergyJ: boardJ(power, iterationNs, dynamicEnergyNj) } : {}),
    point,
    trace,
    iterationNs,
    computeNs,
    commBusyNs,
    commExposedNs,
    memoryBoundNs,
    cells: ordered,
    flops,
    matmulFlops: mmFlops,
    bytes,
    samplesPerIteration,
    samplesPerSecond: samplesPerIteration / (iterationNs * 1e-9),
    kernels: [...kernels.values()],
  };
}

/** Share of the iteration spent in one category (all passes). */
export function categoryShare(r: IterationResult, category: OpCategory): number {
  return categoryTimeNs(r, [category]) / r.iterationNs;
}

/** Time of the iteration in some categories (all passes). */
export function categoryTimeNs(r: IterationResult, categories: readonly OpCategory[]): number {
  return r.cells.filter((c) => categories.includes(c.category)).reduce((s, c) => s + c.timeNs, 0);
}
