import type { FlowDemand } from '../../core/flow-network.js';
import type { Milestone } from '../../core/simulator.js';
import type { KernelCost } from '../../kernels/types.js';
import type { CuSet } from '../gpu/cu-mask.js';
import type { KernelRecord } from '../gpu/gpu.js';
import { isolatedRate } from '../dma/dma.js';
import { interconnectOf } from '../link/topology.js';
import type { MemoryController, ProducerSlot } from '../memory/arbitration.js';
import { countHbm, updateCostPerByte } from '../memory/nmc.js';
import type { System } from '../system.js';

/**
 * Runs a producer kernel (the sub-layer's GEMM) as an ordered list of stages, one flow each.
 *
 * A segment is a run of output tiles sharing one destination: written locally, updated locally
 * (near-memory op-and-store, when the tile's other writer came first), or stored straight into a
 * peer's memory over the links (T3's remote-mapped first chunk, a plain store there). A stage is a
 * set of segments whose workgroups are dispatched together, interleaved batch by batch (a ring
 * step's chunks, one per ring, complete together and each holds tracker entries only for the
 * batch in flight). The stage order *is* the workgroup dispatch order, so staggering is just an
 * order (address-map.ts).
 *
 * Each stage's flow carries its tiles' share of the kernel: critical path, CU time per group and
 * operand reads in proportion to tiles, plus its segments' output traffic; the sum over stages is
 * exactly Gpu.launch's single flow when all outputs are local writes (tested). On top of the
 * bandwidth sharing, the GPU's memory controller throttles the flow when loaded latency exceeds
 * what the GEMM hides (arbitration.ts), and the tracker may stall it between tile batches.
 */
export type SegmentOutput = { kind: 'write' } | { kind: 'update' } | { kind: 'remote'; peer: number };

export interface Segment {
  from: number;
  to: number;
  output: SegmentOutput;
  /** Tiles [a, b) are in memory (local, or the peer's after the link latency). */
  onStored?: (a: number, b: number) => void;
  /** Every tile of the segment is in memory. */
  onDone?: () => void;
}

export interface ProducerOptions {
  system: System;
  gpu: number;
  kernel: KernelCost;
  /** Output tiles of the kernel (the unit of segments). */
  tiles: number;
  /**
   * Bytes of the finished output (default: the kernel's HBM writes). Only these go where a
   * segment's output goes (a peer, a near-memory update); the rest of the kernel's writes (split-K
   * partials) are local writes.
   */
  outputBytes?: number;
  cuSet?: CuSet;
  /** Stages in dispatch order; the segments of a stage run interleaved. */
  stages: Segment[][];
  /** Tile batches per segment: the granularity of store events. */
  batchesPerSegment: number;
  priority: number;
  controller?: MemoryController;
  /** Loaded latency the kernel hides and its prefetched iterations (producer-gemm.ts). */
  latency: { hiddenNs: number; iterationNs: number };
  /** Stages making up the first stage of the collective (its intensity sets MCA's threshold). */
  firstStages?: number;
  /** Entry reservation before a batch stores (the tracker); false = stall until `whenFreed`. */
  reserve?: (from: number, to: number) => boolean;
  whenFreed?: (wake: () => void) => void;
  stream?: string;
  onComplete: (record: KernelRecord, stats: ProducerStats) => void;
}

export interface ProducerStats {
  stalledNs: number;
  firstStageUtilisation: number;
}

/** A batch of a stage's tiles, stored once the stage's progress reaches `at` (a milestone of its flow). */
interface Batch extends Milestone {
  seg: Segment;
  from: number;
  to: number;
  last: boolean;
}

/** What a batch after the first does once admitted: nothing (its stage's flow is running). */
const NOTHING = (): void => {};

export function runProducer(o: ProducerOptions): void {
  const { system } = o;
  const sim = system.sim;
  const gpu = system.gpus[o.gpu]!;
  const cuSet = o.cuSet ?? gpu.allCus;
  const timing = gpu.timing(o.kernel, cuSet);
  const ic = o.stages.some((st) => st.some((s) => s.output.kind === 'remote')) ? interconnectOf(system) : undefined;
  const outBytesPerTile = (o.outputBytes ?? o.kernel.hbmWriteBytes) / o.tiles;
  const partialBytesPerTile = Math.max(0, o.kernel.hbmWriteBytes / o.tiles - outBytesPerTile);
  const readsPerTile = o.kernel.hbmReadBytes / o.tiles;
  const stats: ProducerStats = { stalledNs: 0, firstStageUtilisation: 0 };
  const slot: ProducerSlot = { baseMaxRate: 0, hbmPerUnit: 0, hiddenNs: o.latency.hiddenNs, iterationNs: o.latency.iterationNs, stalled: false, speed: 1 };
  const issuedNs = sim.nowNs;
  const firstStages = o.firstStages ?? 0;
  const updateCost = () => updateCostPerByte(system.hw);
  let firstStageStart = 0;
  let firstStageHbm = 0;
  let stallSince = 0;

  const latencyOf = (seg: Segment) => (seg.output.kind === 'remote' ? ic!.latencyNs(o.gpu, seg.output.peer) : 0);
  const later = (ns: number, fire: () => void) => (ns > 0 ? sim.after(ns, fire) : fire());

  const finishKernel = () => {
    o.controller?.detach();
    const record: KernelRecord = {
      gpu: o.gpu,
      stream: o.stream ?? 'compute',
      name: o.kernel.name,
      category: o.kernel.category,
      startNs: issuedNs,
      endNs: sim.nowNs,
      flops: o.kernel.flops,
      hbmReadBytes: o.kernel.hbmReadBytes,
      hbmWriteBytes: o.kernel.hbmWriteBytes,
      cus: cuSet.count,
      shape: o.kernel.shape,
      tile: o.kernel.tile,
    };
    if (gpu.recordKernels) gpu.records.push(record);
    sim.stats.add(`gpu${o.gpu}.flops`, o.kernel.flops);
    sim.stats.add(`gpu${o.gpu}.kernels`, 1);
    o.onComplete(record, stats);
  };

  const runStage = (i: number): void => {
    if (i === o.stages.length) return finishKernel();
    if (i === 0) firstStageStart = sim.nowNs;
    const segs = o.stages[i]!;
    let n = 0;
    let localHbm = 0;
    const demands: FlowDemand[] = [];
    const peerDemand = new Map<number, number>();
    const linkDemand = new Map<FlowDemand['resource'], number>();
    for (const seg of segs) {
      const t = seg.to - seg.from;
      const bytes = outBytesPerTile * t;
      n += t;
      localHbm += (readsPerTile + partialBytesPerTile) * t;
      if (seg.output.kind === 'write') localHbm += bytes;
      else if (seg.output.kind === 'update') localHbm += bytes * updateCost();
      else {
        // Remote stores arrive before the peer's own stores of the tile: plain writes there.
        const peer = seg.output.peer;
        for (const l of ic!.hops(o.gpu, peer)) linkDemand.set(l.resource, (linkDemand.get(l.resource) ?? 0) + bytes);
        peerDemand.set(peer, (peerDemand.get(peer) ?? 0) + bytes);
      }
    }
    const share = n / o.tiles;
    if (localHbm > 0) demands.push({ resource: gpu.hbm, perUnit: localHbm });
    timing.cuNsPerGroup.forEach((cuNs, g) => {
      if (cuNs > 0) demands.push({ resource: gpu.cuGroups[g]!, perUnit: cuNs * share });
    });
    for (const [resource, perUnit] of linkDemand) demands.push({ resource, perUnit });
    for (const [peer, perUnit] of peerDemand) demands.push({ resource: system.gpus[peer]!.hbm, perUnit });

    // Batches of every segment, interleaved round-robin; progress is measured in tiles. The batches
    // are the stage flow's milestones themselves, all with one `fire`: the simulator fires a flow's
    // milestones once each, in order, so a count says which one it is (with an object and a closure
    // per batch, and the lists they were built in, the stages allocated 1.0 GB of the T3 study's
    // 6.1 GB; now 0.4).
    const batchesOf = (seg: Segment) => Math.max(1, Math.min(o.batchesPerSegment, seg.to - seg.from));
    let total = 0;
    for (const seg of segs) total += batchesOf(seg);
    const batches: Batch[] = [];
    let doneTiles = 0;
    for (let j = 0; batches.length < total; j++) {
      for (const seg of segs) {
        const t = seg.to - seg.from;
        const k = batchesOf(seg);
        if (j >= k) continue;
        const from = seg.from + Math.round((j * t) / k);
        const to = seg.from + Math.round(((j + 1) * t) / k);
        doneTiles += to - from;
        batches.push({ at: doneTiles / n, fire: stored, seg, from, to, last: j === k - 1 });
      }
    }
    let fired = 0;
    function stored(): void {
      const k = fired++;
      const b = batches[k]!;
      const lat = latencyOf(b.seg);
      const onStored = b.seg.onStored;
      if (onStored) {
        if (lat > 0) sim.after(lat, () => onStored(b.from, b.to));
        else onStored(b.from, b.to);
      }
      if (b.last && b.seg.onDone) later(lat, b.seg.onDone);
      if (k + 1 < batches.length) admit(k + 1, NOTHING);
    }

    const criticalNs = timing.criticalNs * share;
    slot.baseMaxRate = criticalNs > 0 ? 1 / criticalNs : 1e9;
    slot.hbmPerUnit = localHbm;
    slot.flow = undefined;

    // A batch may store once its entries are reserved; a refused reservation stalls the flow.
    const admit = (k: number, go: () => void): void => {
      const b = batches[k]!;
      if (!o.reserve || o.reserve(b.from, b.to)) {
        if (slot.stalled) {
          slot.stalled = false;
          stats.stalledNs += sim.nowNs - stallSince;
          o.controller?.apply(slot);
        }
        go();
        return;
      }
      if (!slot.stalled) {
        slot.stalled = true;
        stallSince = sim.nowNs;
        o.controller?.apply(slot);
      }
      o.whenFreed!(() => admit(k, go));
    };

    admit(0, () => {
      slot.flow = sim.startFlow({
        name: `${o.kernel.name}.stage${i}`,
        amount: 1,
        demands,
        maxRate: slot.stalled ? 0 : slot.baseMaxRate * slot.speed,
        // silica's sharing convention (dma.ts): weight = isolated rate, so a saturated resource
        // slows every flow on it by the same factor (demand-proportional, as FR-FCFS serves).
        weight: isolatedRate(demands, slot.baseMaxRate),
        priority: o.controller?.producerPriority ?? o.priority,
        milestones: batches,
        onComplete: () => {
          for (const seg of segs) {
            const t = seg.to - seg.from;
            const bytes = outBytesPerTile * t;
            countHbm(gpu, 'read', readsPerTile * t);
            if (partialBytesPerTile > 0) countHbm(gpu, 'write', partialBytesPerTile * t);
            if (seg.output.kind === 'write') countHbm(gpu, 'write', bytes);
            else if (seg.output.kind === 'update') countHbm(gpu, 'update', bytes);
            else {
              const hops = ic!.hops(o.gpu, seg.output.peer);
              countHbm(system.gpus[seg.output.peer]!, 'write', bytes);
              ic!.recordSent(hops, bytes);
              later(latencyOf(seg), () => ic!.recordReceived(hops, bytes));
            }
          }
          if (i + 1 === firstStages) {
            const elapsed = sim.nowNs - firstStageStart;
            const u = elapsed > 0 ? firstStageHbm / (gpu.hbm.capacity * elapsed) : 0;
            stats.firstStageUtilisation = u;
            o.controller?.arbiter.firstStage(u);
          }
          runStage(i + 1);
        },
      });
      if (i < firstStages) firstStageHbm += localHbm;
    });
  };

  sim.after(timing.fixedNs, () => {
    o.controller?.attach(slot);
    runStage(0);
  });
}
