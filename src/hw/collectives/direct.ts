import type { EngineKind } from './execute.js';
import { COST, reduceLocal, type Plan, type Step, type StepCost } from './plan.js';
import { chunkSizes, type Chunking } from './ring.js';

/**
 * Direct collectives: every GPU talks to every peer at once, each pair over its own path (on a
 * fully connected node, its own link), as RCCL's all-pairs kernels and all-to-all do. Its
 * all-reduce is two-shot (a reduce-scatter, then an all-gather), not one-shot.
 *
 * - reduce-scatter: GPU i pushes block j to GPU j for every j != i; GPU j then reduces the n - 1
 *   staged blocks with its own (CU engine), or the pushes are near-memory updates (DMA engine).
 *   Each GPU sends (n-1)/n of the buffer, once: the same link bytes as a ring, in one hop.
 * - all-gather: GPU i pushes its block to every peer.
 * - all-reduce: the two, chunk by chunk (a chunk's all-gather waits for its reduction).
 * - all-to-all: GPU i pushes block j to GPU j (and copies block i locally).
 * - send/recv: one transfer over the path.
 * Each (sender, receiver) pair is one channel; chunks keep them pipelined.
 */
export type DirectKind = 'reduce-scatter' | 'all-gather' | 'all-reduce' | 'all-to-all';

export function planDirect(plan: Plan, ranks: readonly number[], kind: DirectKind, bytes: number, engine: EngineKind, chunking: Chunking): void {
  const n = ranks.length;
  const block = bytes / n;
  const sizes = chunkSizes(block, chunking);
  const chunks = sizes.length;
  const channel = new Map<string, number>();
  const ch = (a: number, b: number) => {
    const key = `${a}>${b}`;
    let id = channel.get(key);
    if (id === undefined) channel.set(key, (id = plan.newChannel()));
    return id;
  };
  const local = (gpu: number, bytesPerChunk: number, cost: StepCost = COST.recv) => plan.add({ gpu, channel: ch(gpu, gpu), from: gpu, to: gpu, bytes: bytesPerChunk, cost });

  const readyByChunk: Array<Map<number, Step[]>> = [];
  // A chunk's all-gather is emitted after the next chunk's reduce-scatter, so a channel pushes
  // chunk k + 1's partials while chunk k is being reduced.
  for (let k = 0; k <= chunks; k++) {
    const c = sizes[k] ?? 0; // past the last chunk, only its all-gather is left (below)
    if (k < chunks && (kind === 'all-to-all' || kind === 'all-gather')) {
      for (const i of ranks) {
        for (const j of ranks) {
          if (i !== j) plan.add({ gpu: i, channel: ch(i, j), from: i, to: j, bytes: c, cost: COST.push });
        }
        // The GPU's own block goes to its output buffer locally.
        local(i, c);
      }
      continue;
    }
    if (k < chunks) {
      const reduced = new Map<number, Step[]>(); // gpu -> steps whose arrival completes its chunk
      for (const i of ranks) {
        for (const j of ranks) {
          if (i === j) continue;
          const step = plan.add({ gpu: i, channel: ch(i, j), from: i, to: j, bytes: c, cost: engine === 'dma' ? COST.update : COST.push });
          reduced.set(j, [...(reduced.get(j) ?? []), step]);
        }
      }
      const ready = new Map<number, Step[]>();
      for (const j of ranks) {
        if (engine === 'cu') {
          const r = local(j, c, reduceLocal(n - 1));
          for (const s of reduced.get(j) ?? []) plan.link(s, r);
          ready.set(j, [r]);
        } else {
          ready.set(j, reduced.get(j) ?? []);
        }
      }
      readyByChunk.push(ready);
    }
    if (kind === 'all-reduce' && k >= 1) {
      const ready = readyByChunk[k - 1]!;
      for (const j of ranks) {
        for (const i of ranks) {
          if (i === j) continue;
          const ag = plan.add({ gpu: j, channel: ch(j, i), from: j, to: i, bytes: sizes[k - 1]!, cost: COST.push });
          for (const r of ready.get(j)!) plan.link(r, ag);
        }
      }
    }
  }
}

export function planSendRecv(plan: Plan, src: number, dst: number, bytes: number, chunking: Chunking): void {
  const channel = plan.newChannel();
  for (const c of chunkSizes(bytes, chunking)) plan.add({ gpu: src, channel, from: src, to: dst, bytes: c, cost: COST.push });
}
