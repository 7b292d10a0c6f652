import { invariant } from '../../core/errors.js';
import type { Flow, Milestone } from '../../core/simulator.js';
import { dmaTransfer } from '../dma/dma.js';
import { interconnectOf } from '../link/topology.js';
import type { MemorySystem, WorkLeft } from '../memory/arbitration.js';
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
 * through near-memory compute; the tracker counts both per tile, and the chunk's DMA command
 * forwards the partial sum to the successor as an update (no CU work). With `t3.forward: tiles`
 * the command fires when the chunk's first batch of tiles is complete and moves each batch once
 * the tracker has seen it complete; with `chunk`, it fires once every tile is. Whole-chunk
 * forwards let the rings drift out of step: a GPU whose upstream is early starts the next step
 * while the last still moves, the two share the link, both end late, and its successor's next
 * forward waits for the whole of the later one (docs/t3.md, "Forwarding tiles as they complete").
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
  /**
   * The reduce-scatter alone: every GPU's output is already in memory (the GEMM ran before), so
   * no producer runs, the tracker counts upstream updates only and the first step's chunks are
   * forwarded at once. T3's own reduce-scatter, as `ideal-rs-nmc` runs it.
   */
  outputsReady?: boolean;
  /** Called once every GPU holds its reduced chunks. */
  onComplete: (r: FusedResult) => void;
}

export interface FusedResult {
  startNs: number;
  endNs: number;
  /** Latest producer (GEMM) end over the group. */
  producerEndNs: number;
  tracker: TrackerStats;
  /** Trigger pieces the trackers watched, over the group (each fires once: tracker.triggers + fallbacks). */
  trackedPieces: number;
  /** DMA commands issued over the group: one per forwarded sub-chunk, however many pieces it has. */
  dmaCommands: number;
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
  const ready = o.outputsReady ?? false;
  const schedule = ringSchedule({ rings: o.rings, tiles: p.tiles, staggered, firstChunk: ready ? 'dma' : hw.t3.first_chunk });
  // A tile's finished output: what the DMAs forward (a split-K kernel's partials stay local).
  const bytesPerTile = p.outputBytes / p.tiles;
  // Tracker events come in batches of tiles; a batch claims its entries at once, so it is kept
  // to a quarter of the table at most (a small table then sees finer events, not false overflow).
  const maxChunkTiles = Math.max(...schedule.subChunks.map((c) => c.endTile - c.firstTile));
  const batches = Math.max(hw.t3.events_per_chunk, Math.ceil(maxChunkTiles / Math.max(1, Math.floor(hw.t3.tracker_entries / 4))));
  const gpus = [...schedule.maps.keys()];
  const trackers = new Map<number, Tracker>();
  const startNs = sim.nowNs;
  let producersLeft = ready ? 0 : gpus.length;
  let trackedPieces = 0;
  let dmaCommands = 0;
  // Sub-chunks that lost a trigger on some GPU (index gpu x sub-chunks + sub-chunk), and how many.
  const fallbackSubChunk = new Uint8Array(system.gpus.length * schedule.subChunks.length);
  let fallbackSubChunks = 0;
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
  for (const gpu of ready ? [] : gpus) {
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
    // Rewritten at each ask (a policy reads it within the sample and keeps none of it, as Sample):
    // an object per sample per GPU was 0.2 GB of the 6.1 GB the T3 study allocated.
    const left: WorkLeft = { producerNs: 0, commNs: 0, commTailNs };
    o.memory.controllers[gpu]!.reportWorkLeft(() => {
      const stored = storedTiles[gpu]!;
      const elapsedNs = sim.nowNs - startNs;
      left.producerNs = stored > 0 ? ((p.tiles - stored) * elapsedNs) / stored : Infinity;
      left.commNs = ((forwardTiles - deliveredTiles[gpu]!) * bytesPerTile) / commBytesPerNs;
      return left;
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
      stats.triggers += t.stats.triggers;
    }
    // Sub-chunks that lost a trigger (the tracker counts its pieces).
    stats.fallbackChunks = fallbackSubChunks;
    o.onComplete({ startNs, endNs: sim.nowNs, producerEndNs, tracker: stats, trackedPieces, dmaCommands, stalledNs, firstStageUtilisation: firstStageSum / gpus.length, schedule });
  };

  // A global wait (every running producer stalled, no DMA moving) cannot end by itself: break it
  // with a fallback on the lowest stalled GPU. Staggered orders never get here; odd orders might.
  let dmasMoving = 0;
  let checkQueued = false;
  const producersRunning = new Set<number>(ready ? [] : gpus);
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

  // Trigger pieces: the runs of a sub-chunk's tiles the tracker fires on its own, each tracked as
  // a chunk (id = sub-chunk id x P + piece). Forwarding `tiles`, they are the event batches of
  // the producer's stores; forwarding `chunk`, the whole sub-chunk.
  const P = hw.t3.forward === 'tiles' ? batches : 1;
  const piecesOf = schedule.subChunks.map((sc) => {
    const n = sc.endTile - sc.firstTile;
    const k = Math.max(1, Math.min(P, n));
    return Array.from({ length: k }, (_, j) => ({ id: sc.id * P + j, firstTile: sc.firstTile + Math.round((j * n) / k), endTile: sc.firstTile + Math.round(((j + 1) * n) / k) }));
  });
  const subChunkOf = (pieceId: number) => Math.floor(pieceId / P);

  // The DMA command table's entry for a sub-chunk: fired by its first complete piece, it moves the
  // chunk in delivery batches (each piece cut into about batches / pieces of them), a batch once
  // its piece is complete here and the destination's producer has claimed its tiles (tracker
  // credits). One command, one setup and one path latency per sub-chunk, whatever the pieces.
  /** A delivery batch of a command: tiles [a, b) of piece `piece`, delivered `at` bytes into its transfer. */
  interface Delivery extends Milestone {
    a: number;
    b: number;
    piece: number;
  }
  interface Command {
    ready: boolean[];
    /** The command's wait for a piece to complete here: one at a time (its flow is paused meanwhile). */
    waiter: (() => void) | undefined;
  }
  const forward = (gpu: number, map: GpuOutputMap, chunkId: number, cmd: Command) => {
    const sc = schedule.subChunks[chunkId]!;
    const dst = map.successorOf[chunkId]!;
    const pieces = piecesOf[chunkId]!;
    const perPiece = Math.max(1, Math.ceil(batches / pieces.length));
    // The delivery batches are the transfer's milestones themselves, all with one `fire`: the
    // simulator fires a flow's milestones once each, in order, so a count says which one it is.
    // An object and a closure per batch, for every command, were the T3 study's largest allocation
    // (0.7 GB of 6.1; now 0.3).
    const edges: Delivery[] = [];
    for (let j = 0; j < pieces.length; j++) {
      const pc = pieces[j]!;
      const n = pc.endTile - pc.firstTile;
      const k = Math.max(1, Math.min(perPiece, n));
      for (let i = 0; i < k; i++) {
        const b = pc.firstTile + Math.round(((i + 1) * n) / k);
        edges.push({ at: (b - sc.firstTile) * bytesPerTile, fire: deliver, a: pc.firstTile + Math.round((i * n) / k), b, piece: j });
      }
    }
    let delivered = 0;
    function deliver(): void {
      const i = delivered++;
      const e = edges[i]!;
      deliveredTiles[gpu] += e.b - e.a;
      downstream.upstream(e.a, e.b);
      if (i + 1 < edges.length) admit(i + 1);
    }
    const downstream = trackers.get(dst)!;
    let flow: Flow | undefined;
    let paused = false;
    // The batch a paused command waits to deliver: it waits for one thing at a time (its flow does
    // not move while paused), so one wake function serves every wait, not a closure per wait.
    let waitingEdge = -1;
    const retry = (): void => {
      const i = waitingEdge;
      waitingEdge = -1;
      admit(i);
    };
    const admit = (i: number): void => {
      const e = edges[i]!;
      const complete = cmd.ready[e.piece]!;
      if (complete && downstream.claimed(e.a, e.b)) {
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
      if (waitingEdge >= 0) invariant(false, `t3: DMA of chunk ${chunkId} from GPU ${gpu} waits for two batches`);
      waitingEdge = i;
      if (!complete) cmd.waiter = retry;
      else downstream.whenFreed(retry);
    };
    dmasMoving++;
    dmaTransfer(system, {
      src: gpu,
      dst,
      bytes: (sc.endTile - sc.firstTile) * bytesPerTile,
      mode: 'update',
      priority: o.memory.controllers[gpu]!.arbiter.commPriority,
      name: `t3.dma${gpu}->${dst}.c${chunkId}`,
      milestones: edges,
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

  // A piece of a forwarded sub-chunk is complete (triggered, or after the kernel's end when it
  // lost its trigger): the first fires the chunk's command, each lets it move on.
  const commands = new Map<number, Map<number, Command>>();
  const pieceComplete = (gpu: number, map: GpuOutputMap, pieceId: number) => {
    const chunkId = subChunkOf(pieceId);
    const byChunk = commands.get(gpu)!;
    let cmd = byChunk.get(chunkId);
    if (!cmd) {
      byChunk.set(chunkId, (cmd = { ready: piecesOf[chunkId]!.map(() => false), waiter: undefined }));
      dmaCommands++;
      forward(gpu, map, chunkId, cmd);
    }
    cmd.ready[pieceId % P] = true;
    const wake = cmd.waiter;
    cmd.waiter = undefined;
    wake?.();
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
      // Outputs in memory already: the first step's chunks have nothing to wait for (sent below).
      if (ready && map.upstreamOf[sc.id]! < 0) continue;
      for (const pc of piecesOf[sc.id]!) {
        tracked.push({ id: pc.id, firstTile: pc.firstTile, endTile: pc.endTile, local: !ready, upstream: map.upstreamOf[sc.id]! >= 0 });
        if (map.mappingOf[sc.id] === 'local') ownedLeft++;
      }
    }
    trackedPieces += tracked.length;
    commands.set(gpu, new Map());
    // Pieces completed so far, by piece id (sub-chunk x P + piece).
    const fired = new Uint8Array(schedule.subChunks.length * P);
    trackers.set(
      gpu,
      new Tracker({
        capacity: hw.t3.tracker_entries,
        overflow: hw.t3.overflow,
        tiles: p.tiles,
        chunks: tracked,
        onFallback: (chunk) => {
          const k = gpu * schedule.subChunks.length + subChunkOf(chunk.id);
          if (!fallbackSubChunk[k]) {
            fallbackSubChunk[k] = 1;
            fallbackSubChunks++;
          }
          // Tell the GPU this chunk feeds that its data now waits for our kernel's end.
          if (map.mappingOf[subChunkOf(chunk.id)] !== 'local') pendingDeferrals.push([map.successorOf[subChunkOf(chunk.id)]!, chunk.id]);
          flushDeferrals();
        },
        onChunkComplete: (chunk, path) => {
          if (fired[chunk.id]) invariant(false, `t3: piece ${chunk.id} on GPU ${gpu} completed twice`);
          fired[chunk.id] = 1;
          if (map.mappingOf[subChunkOf(chunk.id)] === 'local') {
            ownedLeft--;
            finishIfDone();
          } else if (path === 'trigger') pieceComplete(gpu, map, chunk.id);
          // The sequential path: software issues the copy after the kernel boundary.
          else sim.after(hw.compute.kernel_launch_ns, () => pieceComplete(gpu, map, chunk.id));
        },
      }),
    );
  }

  if (ready) {
    for (const gpu of gpus) {
      const map = schedule.maps.get(gpu)!;
      trackers.get(gpu)!.producerFinished();
      for (const sc of schedule.subChunks) if (map.upstreamOf[sc.id]! < 0) for (const pc of piecesOf[sc.id]!) pieceComplete(gpu, map, pc.id);
    }
    return;
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
