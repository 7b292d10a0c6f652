import { SilicaError } from '../../core/errors.js';

/**
 * The producer's output address space as T3 software configures it for a ring reduce-scatter
 * (mission.md §2): the output is cut into sub-chunks — each ring of the collective takes an equal
 * share of the tiles, cut into one chunk per rank — and on every GPU each sub-chunk is mapped by
 * the step of the ring at which this GPU handles it:
 *
 * - step 0 (the chunk this GPU starts the ring with): `remote` — the GEMM's stores go straight to
 *   the ring successor's memory as updates (or `dma`: written locally, then forwarded);
 * - steps 1 .. n-2: `dma` — local updates; the upstream GPU's updates land on top; when the tracker
 *   sees both complete, the pre-programmed DMA forwards the partial sum to the successor;
 * - step n-1: `local` — the fully reduced chunk this GPU owns after the reduce-scatter.
 *
 * Staggered dispatch orders each GPU's workgroups by that step (stage s computes every ring's
 * step-s chunk), so chunks complete in the order the ring consumes them; unstaggered, every GPU
 * runs the tiles in the same default order and the tracker simply waits longer.
 */
export type ChunkMapping = 'local' | 'remote' | 'dma';

export interface SubChunk {
  /** ring * n + chunk. */
  id: number;
  ring: number;
  chunk: number;
  firstTile: number;
  endTile: number;
}

export interface GpuOutputMap {
  gpu: number;
  /** Ring step at which this GPU produces each sub-chunk (by id). */
  stepOf: Int32Array;
  mappingOf: ChunkMapping[];
  /** Ring successor for each sub-chunk (where remote stores and DMAs go). */
  successorOf: Int32Array;
  /** Ring predecessor whose updates the sub-chunk receives, or -1. */
  upstreamOf: Int32Array;
  /** Sub-chunk ids in workgroup dispatch order. */
  order: number[];
}

export interface RingSchedule {
  ranks: number;
  rings: number[][];
  subChunks: SubChunk[];
  maps: Map<number, GpuOutputMap>;
}

export interface ScheduleOptions {
  rings: number[][];
  tiles: number;
  staggered: boolean;
  firstChunk: 'remote' | 'dma';
}

export function ringSchedule(o: ScheduleOptions): RingSchedule {
  const R = o.rings.length;
  const n = o.rings[0]?.length ?? 0;
  if (R === 0 || n === 0) throw new SilicaError('t3: expected at least one ring with one rank');
  for (const ring of o.rings) {
    if (ring.length !== n) throw new SilicaError(`t3: rings must have equal length, got ${o.rings.map((r) => r.length).join(', ')}`);
  }
  const Q = R * n;
  if (o.tiles < Q) {
    throw new SilicaError(`t3: the output has ${o.tiles} tiles, fewer than the ${Q} chunks of the ring schedule (${R} rings x ${n} ranks); use more tokens`);
  }
  const subChunks: SubChunk[] = [];
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < n; c++) {
      const id = r * n + c;
      subChunks.push({ id, ring: r, chunk: c, firstTile: Math.floor((id * o.tiles) / Q), endTile: Math.floor(((id + 1) * o.tiles) / Q) });
    }
  }
  const maps = new Map<number, GpuOutputMap>();
  for (const gpu of o.rings[0]!) {
    const stepOf = new Int32Array(Q);
    const successorOf = new Int32Array(Q);
    const upstreamOf = new Int32Array(Q).fill(-1);
    const mappingOf: ChunkMapping[] = new Array(Q);
    o.rings.forEach((ring, r) => {
      const p = ring.indexOf(gpu);
      if (p < 0) throw new SilicaError(`t3: GPU ${gpu} is missing from ring ${r}`);
      for (let c = 0; c < n; c++) {
        const id = r * n + c;
        const step = (((p - c) % n) + n) % n;
        stepOf[id] = step;
        successorOf[id] = ring[(p + 1) % n]!;
        if (step > 0) upstreamOf[id] = ring[(p + n - 1) % n]!;
        mappingOf[id] = step === n - 1 ? 'local' : step === 0 ? o.firstChunk : 'dma';
      }
    });
    const ids = subChunks.map((s) => s.id);
    const order = o.staggered ? ids.sort((a, b) => stepOf[a]! - stepOf[b]! || a - b) : ids;
    maps.set(gpu, { gpu, stepOf, mappingOf, successorOf, upstreamOf, order });
  }
  return { ranks: n, rings: o.rings, subChunks, maps };
}
