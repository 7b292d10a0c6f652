import type { FlowDemand } from '../../core/flow-network.js';
import type { KernelCost } from '../../kernels/types.js';
import type { CuSet } from '../gpu/cu-mask.js';
import type { KernelRecord } from '../gpu/gpu.js';
import { isolatedRate } from '../dma/dma.js';
import { interconnectOf } from '../link/topology.js';
import type { MemoryController, ProducerSlot } from '../memory/arbitration.js';
import { countHbm, updateCostPerByte } from '../memory/nmc.js';
import type { System } from '../system.js';

/**
 * Runs a producer kernel (the sub-layer's GEMM) as an ordered list of segments, one flow each.
 *
 * A segment is a run of output tiles sharing one destination: written locally, updated locally
 * (near-memory op-and-store, when the tile's other writer came first), or stored straight into a
 * peer's memory over the links (T3's remote-mapped first chunk, a plain store there). The
 * segments' order *is* the workgroup dispatch order, so staggering is just an order (address-map.ts).
 *
 * Each segment's flow carries its tiles' share of the kernel: critical path, CU time per group and
 * operand reads in proportion to tiles, plus its own output traffic; the sum over segments is
 * exactly Gpu.launch's single flow when all outputs are local writes (tested). On top of the
 * bandwidth sharing, the GPU's memory controller throttles the flow when loaded latency exceeds
 * what the GEMM hides (arbitration.ts), and the tracker may stall it between tile batches.
 */
export type SegmentOutput = { kind: 'write' } | { kind: 'update' } | { kind: 'remote'; peer: number };

export interface Segment {
  from: number;
  to: number;
  output: SegmentOutput;
  /** The segment's flow starts (its workgroups are dispatched). */
  onStart?: () => void;
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
  cuSet?: CuSet;
  segments: Segment[];
  /** Tile batches per segment: the granularity of store events. */
  batchesPerSegment: number;
  priority: number;
  controller?: MemoryController;
  /** Loaded latency the kernel hides and its prefetched iterations (producer-gemm.ts). */
  latency: { hiddenNs: number; iterationNs: number };
  /** Segments making up the first stage (its intensity sets MCA's threshold). */
  firstStageSegments?: number;
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

export function runProducer(o: ProducerOptions): void {
  const { system } = o;
  const sim = system.sim;
  const gpu = system.gpus[o.gpu]!;
  const cuSet = o.cuSet ?? gpu.allCus;
  const timing = gpu.timing(o.kernel, cuSet);
  const ic = o.segments.some((s) => s.output.kind === 'remote') ? interconnectOf(system) : undefined;
  const outBytesPerTile = o.kernel.hbmWriteBytes / o.tiles;
  const readsPerTile = o.kernel.hbmReadBytes / o.tiles;
  const stats: ProducerStats = { stalledNs: 0, firstStageUtilisation: 0 };
  const slot: ProducerSlot = { baseMaxRate: 0, hbmPerUnit: 0, hiddenNs: o.latency.hiddenNs, iterationNs: o.latency.iterationNs, stalled: false, speed: 1 };
  const issuedNs = sim.nowNs;
  const firstStage = o.firstStageSegments ?? 0;
  let firstStageStart = 0;
  let firstStageHbm = 0;
  let stallSince = 0;

  const runSegment = (i: number): void => {
    if (i === o.segments.length) {
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
      return;
    }
    if (i === 0) firstStageStart = sim.nowNs;
    const seg = o.segments[i]!;
    const n = seg.to - seg.from;
    const share = n / o.tiles;
    const outBytes = outBytesPerTile * n;
    const demands: FlowDemand[] = [];
    let localHbm = readsPerTile * n;
    if (seg.output.kind === 'write') localHbm += outBytes;
    else if (seg.output.kind === 'update') localHbm += outBytes * updateCostPerByte(system.hw);
    if (localHbm > 0) demands.push({ resource: gpu.hbm, perUnit: localHbm });
    timing.cuNsPerGroup.forEach((cuNs, g) => {
      if (cuNs > 0) demands.push({ resource: gpu.cuGroups[g]!, perUnit: cuNs * share });
    });
    let latencyNs = 0;
    const output = seg.output;
    const hops = output.kind === 'remote' ? ic!.hops(o.gpu, output.peer) : [];
    if (output.kind === 'remote') {
      // Remote stores arrive before the peer's own stores of the tile: plain writes there.
      for (const l of hops) demands.push({ resource: l.resource, perUnit: outBytes });
      demands.push({ resource: system.gpus[output.peer]!.hbm, perUnit: outBytes });
      latencyNs = ic!.latencyNs(o.gpu, output.peer);
    }
    const batches = Math.max(1, Math.min(o.batchesPerSegment, n));
    const edge = (k: number) => seg.from + Math.round((k * n) / batches);
    const stored = (a: number, b: number) => {
      if (!seg.onStored) return;
      if (latencyNs > 0) sim.after(latencyNs, () => seg.onStored!(a, b));
      else seg.onStored(a, b);
    };
    const criticalNs = timing.criticalNs * share;
    slot.baseMaxRate = criticalNs > 0 ? 1 / criticalNs : 1e9;
    slot.hbmPerUnit = localHbm;
    slot.flow = undefined;

    // Batch k may store once its entries are reserved; a refused reservation stalls the flow.
    const admit = (k: number, go: () => void): void => {
      if (!o.reserve || o.reserve(edge(k), edge(k + 1))) {
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

    const milestones = Array.from({ length: batches }, (_, k) => ({
      at: (k + 1) / batches,
      fire: () => {
        stored(edge(k), edge(k + 1));
        if (k + 1 < batches) admit(k + 1, () => {});
      },
    }));
    admit(0, () => {
      const flow = sim.startFlow({
        name: `${o.kernel.name}.seg${i}`,
        amount: 1,
        demands,
        maxRate: slot.stalled ? 0 : slot.baseMaxRate * slot.speed,
        // silica's sharing convention (dma.ts): weight = isolated rate, so a saturated resource
        // slows every flow on it by the same factor (demand-proportional, as FR-FCFS serves).
        weight: isolatedRate(demands, slot.baseMaxRate),
        priority: o.priority,
        milestones,
        onComplete: () => {
          countHbm(gpu, 'read', readsPerTile * n);
          if (output.kind === 'write') countHbm(gpu, 'write', outBytes);
          else if (output.kind === 'update') countHbm(gpu, 'update', outBytes);
          else {
            countHbm(system.gpus[output.peer]!, 'write', outBytes);
            ic!.recordSent(hops, outBytes);
            sim.after(latencyNs, () => ic!.recordReceived(hops, outBytes));
          }
          if (i + 1 === firstStage) {
            const elapsed = sim.nowNs - firstStageStart;
            const u = elapsed > 0 ? firstStageHbm / (gpu.hbm.capacity * elapsed) : 0;
            stats.firstStageUtilisation = u;
            o.controller?.arbiter.firstStage(u);
          }
          if (seg.onDone) {
            if (latencyNs > 0) sim.after(latencyNs, seg.onDone);
            else seg.onDone();
          }
          runSegment(i + 1);
        },
      });
      if (i < firstStage) firstStageHbm += localHbm;
      slot.flow = flow;
      seg.onStart?.();
    });
  };

  sim.after(timing.fixedNs, () => {
    if (o.controller) {
      o.controller.attach(slot);
    }
    runSegment(0);
  });
}
