import { invariant } from '../../core/errors.js';
import type { Flow } from '../../core/simulator.js';
import { dmaTransfer } from '../dma/dma.js';
import { interconnectOf } from '../link/topology.js';
import type { MemorySystem } from '../memory/arbitration.js';
import type { System } from '../system.js';
import { ringSchedule, type GpuOutputMap, type RingSchedule } from './address-map.js';
import type { LatencyTolerance, ProducerGemm } from './producer-gemm.js';
import { runProducer, type Segment } from './producer.js';
import { Tracker, type TrackedChunk, type TrackerStats } from './tracker.js';

/**
 * T3's fused GEMM + ring reduce-scatter on every GPU of a tensor-parallel group (mission.md §2).
 *
 * Per GPU: the producer GEMM runs its tiles in the order of the output map (staggered by ring
 * step); the first-step chunk is stored straight into the ring successor (remote updates); every
 * other chunk is updated locally while the upstream GPU's updates land on the same addresses
 * through near-memory compute; the tracker counts both per tile, and when a chunk is complete its
 * DMA command fires once, forwarding the partial sum to the successor as an update (no CU work).
 * The last-step chunk is the reduced result this GPU owns. DMA and stores share HBM and links
 * with the GEMM under the memory system's arbitration policy (fair or MCA).
 */
export interface FusedOptions {
  system: System;
  /** Rings of GPU indices (all of equal length, each a permutation of the group). */
  rings: number[][];
  producer: ProducerGemm;
  /** Loaded latency the producer hides (producer-gemm.ts latencyTolerance). */
  latency: LatencyTolerance;
  memory: MemorySystem;
  staggered?: boolean;
  /** Called once every GPU holds its reduced chunks. */
  onComplete: (r: FusedResult) => void;
}

export interface FusedResult {
  startNs: number;
  endNs: number;
  /** Latest producer (GEMM) end over the group. */
  producerEndNs: number;
  tracker: TrackerStats;
  /** Producer time held by a full tracker table, summed over GPUs. */
  stalledNs: number;
  /** Mean first-stage DRAM utilisation of the producer (MCA's intensity). */
  firstStageUtilisation: number;
  schedule: RingSchedule;
}

export function runFusedGemmRs(o: FusedOptions): void {
  const { system } = o;
  const sim = system.sim;
  const hw = system.hw;
  const p = o.producer;
  const staggered = o.staggered ?? true;
  const schedule = ringSchedule({ rings: o.rings, tiles: p.tiles, staggered, firstChunk: hw.t3.first_chunk });
  // A tile's finished output: what the DMAs forward (a split-K kernel's partials stay local).
  const bytesPerTile = p.outputBytes / p.tiles;
  // Tracker events come in batches of tiles; a batch claims its entries at once, so it is kept
  // to a quarter of the table at most (a small table then sees finer events, not false overflow).
  const maxChunkTiles = Math.max(...schedule.subChunks.map((c) => c.endTile - c.firstTile));
  const batches = Math.max(hw.t3.events_per_chunk, Math.ceil(maxChunkTiles / Math.max(1, Math.floor(hw.t3.tracker_entries / 4))));
  const gpus = [...schedule.maps.keys()];
  const trackers = new Map<number, Tracker>();
  const startNs = sim.nowNs;
  let producersLeft = gpus.length;
  let ownedLeft = 0;
  let producerEndNs = startNs;
  let stalledNs = 0;
  let firstStageSum = 0;
  let done = false;
  // Work left per GPU, for arbitration that asks which side is critical (Sample.workLeft): the
  // producer's tiles left at its pace so far; the bytes it has yet to forward at the fastest its
  // rings can take them (each ring's slowest hop or one DMA engine, all of them at most the
  // engines' total); and one ring step of that, which follows the producer's end whatever the
  // arbitration (the last chunk is forwarded once it is complete).
  const storedTiles = new Float64Array(system.gpus.length);
  const deliveredTiles = new Float64Array(system.gpus.length);
  const ic = interconnectOf(system);
  for (const gpu of gpus) {
    const map = schedule.maps.get(gpu)!;
    let forwardTiles = 0;
    for (const sc of schedule.subChunks) if (map.mappingOf[sc.id] === 'dma') forwardTiles += sc.endTile - sc.firstTile;
    // Rings to one successor share its path (a switch's ring run on several engines side by side).
    const ringsTo = new Map<number, number>();
    for (const ring of o.rings) {
      const successor = ring[(ring.indexOf(gpu) + 1) % ring.length]!;
      ringsTo.set(successor, (ringsTo.get(successor) ?? 0) + 1);
    }
    let ringsBytesPerNs = 0;
    for (const [successor, rings] of ringsTo) ringsBytesPerNs += Math.min(rings * hw.dma.engine_gbps, ic.pathCapacity(gpu, successor));
    const commBytesPerNs = Math.min(ringsBytesPerNs, hw.dma.engines * hw.dma.engine_gbps);
    const commTailNs = ((p.tiles / schedule.ranks) * bytesPerTile) / commBytesPerNs;
    o.memory.controllers[gpu]!.reportWorkLeft(() => {
      const stored = storedTiles[gpu]!;
      const elapsedNs = sim.nowNs - startNs;
      return {
        producerNs: stored > 0 ? ((p.tiles - stored) * elapsedNs) / stored : Infinity,
        commNs: ((forwardTiles - deliveredTiles[gpu]!) * bytesPerTile) / commBytesPerNs,
        commTailNs,
      };
    });
  }

  const finishIfDone = () => {
    if (done || producersLeft > 0 || ownedLeft > 0) return;
    done = true;
    for (const gpu of gpus) o.memory.controllers[gpu]!.reportWorkLeft(undefined);
    const stats: TrackerStats = { maxEntriesUsed: 0, overflowTiles: 0, fallbackChunks: 0, triggers: 0 };
    for (const t of trackers.values()) {
      stats.maxEntriesUsed = Math.max(stats.maxEntriesUsed, t.stats.maxEntriesUsed);
      stats.overflowTiles += t.stats.overflowTiles;
      stats.fallbackChunks += t.stats.fallbackChunks;
      stats.triggers += t.stats.triggers;
    }
    o.onComplete({ startNs, endNs: sim.nowNs, producerEndNs, tracker: stats, stalledNs, firstStageUtilisation: firstStageSum / gpus.length, schedule });
  };

  // A global wait (every running producer stalled, no DMA moving) cannot end by itself: break it
  // with a fallback on the lowest stalled GPU. Staggered orders never get here; odd orders might.
  let dmasMoving = 0;
  let checkQueued = false;
  const producersRunning = new Set<number>(gpus);
  const checkWait = () => {
    if (checkQueued) return;
    checkQueued = true;
    sim.after(0, () => {
      checkQueued = false;
      if (dmasMoving > 0 || producersRunning.size === 0) return;
      for (const g of producersRunning) if (!trackers.get(g)!.producerStalled) return;
      trackers.get(Math.min(...producersRunning))!.breakStall();
    });
  };

  // Forward a completed chunk: the DMA command table's entry for it. The engine delivers a tile
  // batch only once the destination's producer has claimed those tiles (tracker credits).
  const forward = (gpu: number, map: GpuOutputMap, chunkId: number) => {
    const sc = schedule.subChunks[chunkId]!;
    const dst = map.successorOf[chunkId]!;
    const n = sc.endTile - sc.firstTile;
    const k = Math.max(1, Math.min(batches, n));
    const edge = (i: number) => sc.firstTile + Math.round((i * n) / k);
    const downstream = trackers.get(dst)!;
    let flow: Flow | undefined;
    let paused = false;
    const admit = (i: number): void => {
      if (downstream.claimed(edge(i), edge(i + 1))) {
        if (paused) {
          paused = false;
          dmasMoving++;
          sim.setMaxRate(flow!, Infinity);
        }
        return;
      }
      if (!paused) {
        paused = true;
        dmasMoving--;
        sim.setMaxRate(flow!, 0);
        checkWait();
      }
      downstream.whenFreed(() => admit(i));
    };
    dmasMoving++;
    dmaTransfer(system, {
      src: gpu,
      dst,
      bytes: n * bytesPerTile,
      mode: 'update',
      priority: o.memory.controllers[gpu]!.arbiter.commPriority,
      name: `t3.dma${gpu}->${dst}.c${chunkId}`,
      milestones: Array.from({ length: k }, (_, i) => ({
        at: (edge(i + 1) - sc.firstTile) * bytesPerTile,
        fire: () => {
          deliveredTiles[gpu] += edge(i + 1) - edge(i);
          downstream.upstream(edge(i), edge(i + 1));
          if (i + 1 < k) admit(i + 1);
        },
      })),
      onStart: (f) => {
        flow = f;
        admit(0);
      },
      onComplete: () => {
        dmasMoving--;
        checkWait();
      },
    });
  };

  // Fallback notices go to the downstream tracker (it may not exist yet while trackers are built).
  const pendingDeferrals: Array<[number, number]> = [];
  const flushDeferrals = () => {
    for (let i = 0; i < pendingDeferrals.length; ) {
      const [dst, id] = pendingDeferrals[i]!;
      const t = trackers.get(dst);
      if (t) {
        t.feedDeferred(id);
        pendingDeferrals.splice(i, 1);
      } else i++;
    }
  };

  for (const gpu of gpus) {
    const map = schedule.maps.get(gpu)!;
    const tracked: TrackedChunk[] = [];
    for (const sc of schedule.subChunks) {
      if (map.mappingOf[sc.id] === 'remote') continue;
      tracked.push({ id: sc.id, firstTile: sc.firstTile, endTile: sc.endTile, local: true, upstream: map.upstreamOf[sc.id]! >= 0 });
      if (map.mappingOf[sc.id] === 'local') ownedLeft++;
    }
    const fired = new Set<number>();
    trackers.set(
      gpu,
      new Tracker({
        capacity: hw.t3.tracker_entries,
        overflow: hw.t3.overflow,
        tiles: p.tiles,
        chunks: tracked,
        onFallback: (chunk) => {
          // Tell the GPU this chunk feeds that its data now waits for our kernel's end.
          if (map.mappingOf[chunk.id] !== 'local') pendingDeferrals.push([map.successorOf[chunk.id]!, chunk.id]);
          flushDeferrals();
        },
        onChunkComplete: (chunk, path) => {
          invariant(!fired.has(chunk.id), `t3: chunk ${chunk.id} on GPU ${gpu} completed twice`);
          fired.add(chunk.id);
          if (map.mappingOf[chunk.id] === 'local') {
            ownedLeft--;
            finishIfDone();
          } else if (path === 'trigger') forward(gpu, map, chunk.id);
          // The sequential path: software issues the copy after the kernel boundary.
          else sim.after(hw.compute.kernel_launch_ns, () => forward(gpu, map, chunk.id));
        },
      }),
    );
  }

  for (const gpu of gpus) {
    const map = schedule.maps.get(gpu)!;
    const tracker = trackers.get(gpu)!;
    const segmentOf = (id: number): Segment => {
      const sc = schedule.subChunks[id]!;
      const mapping = map.mappingOf[id]!;
      if (mapping === 'remote') {
        const peer = map.successorOf[id]!;
        const peerTracker = trackers.get(peer)!;
        const onStored = (a: number, b: number) => {
          storedTiles[gpu] += b - a;
          peerTracker.upstream(a, b);
        };
        return { from: sc.firstTile, to: sc.endTile, output: { kind: 'remote', peer }, onStored };
      }
      // The tracker orders the two writers of a tile: the first arrival is a plain store, the
      // second a near-memory update. DMAs deliver only claimed tiles, so local stores come first,
      // except in the chunk fed by the upstream's remote stores, which land a stage earlier.
      const remoteFed = map.stepOf[id] === 1 && hw.t3.first_chunk === 'remote';
      const onStored = (a: number, b: number) => {
        storedTiles[gpu] += b - a;
        tracker.localStore(a, b);
      };
      return { from: sc.firstTile, to: sc.endTile, output: { kind: remoteFed ? 'update' : 'write' }, onStored };
    };
    // Staggered: one stage per ring step, the rings' chunks of a step interleaved; otherwise every
    // chunk on its own in the default order.
    const stages: Segment[][] = [];
    let lastStep = -1;
    for (const id of map.order) {
      const step = map.stepOf[id]!;
      if (staggered && step === lastStep) stages[stages.length - 1]!.push(segmentOf(id));
      else stages.push([segmentOf(id)]);
      lastStep = step;
    }
    runProducer({
      system,
      gpu,
      kernel: p.kernel,
      tiles: p.tiles,
      outputBytes: p.outputBytes,
      stages,
      batchesPerSegment: batches,
      priority: o.memory.controllers[gpu]!.arbiter.computePriority,
      controller: o.memory.controllers[gpu],
      latency: o.latency,
      firstStages: 1,
      reserve: (a, b) => tracker.claim(a, b),
      whenFreed: (wake) => {
        tracker.whenFreed(wake);
        checkWait();
      },
      stream: 't3',
      onComplete: (_record, stats) => {
        stalledNs += stats.stalledNs;
        firstStageSum += stats.firstStageUtilisation;
        producerEndNs = Math.max(producerEndNs, sim.nowNs);
        producersLeft--;
        producersRunning.delete(gpu);
        checkWait();
        tracker.producerFinished();
        finishIfDone();
      },
    });
  }
}
