import type { EngineKind } from './execute.js';
import { COST, type Plan, type Step, type StepCost } from './plan.js';

/**
 * Ring reduce-scatter, all-gather and all-reduce (NCCL's ring primitives), and the pipelined
 * chain broadcast, over one or more rings. The buffer is split evenly over the rings (NCCL
 * channels); each ring's share is cut into n blocks and each block into chunks (chunkSizes).
 *
 * Per chunk, the GPU at ring position p runs these link steps, each to its successor, each
 * waiting for its predecessor's previous step to arrive:
 * - CU engine, all-reduce: send, (n-2) x recvReduceSend, recvReduceCopySend, (n-2) x recvCopySend,
 *   then a local recv; reduce-scatter stops after the reductions with a local recvReduceCopy;
 *   all-gather is (n-1) x copySend then a local recv.
 * - DMA engine: the reductions are near-memory updates of the successor's copy in place, so a
 *   reduce-scatter step reads the (already accumulated) block and updates the successor's; the
 *   all-gather steps are plain copies; nothing is left to do locally.
 * A channel (one ring on one GPU) takes its steps in wavefront order (chunk + step ascending), so
 * it works on a later chunk's early step while an earlier chunk's data is still in flight.
 */
export type RingKind = 'reduce-scatter' | 'all-gather' | 'all-reduce';

function linkSequence(kind: RingKind, n: number, engine: EngineKind): { link: StepCost[]; local?: StepCost } {
  const rep = (c: StepCost, times: number) => Array.from({ length: Math.max(0, times) }, () => c);
  if (engine === 'dma') {
    if (kind === 'reduce-scatter') return { link: rep(COST.update, n - 1) };
    if (kind === 'all-gather') return { link: rep(COST.push, n - 1) };
    return { link: [...rep(COST.update, n - 1), ...rep(COST.push, n - 1)] };
  }
  if (kind === 'reduce-scatter') return { link: [COST.push, ...rep(COST.reduceSend, n - 2)], local: COST.reduceCopy };
  if (kind === 'all-gather') return { link: rep(COST.copySend, n - 1), local: COST.recv };
  return { link: [COST.push, ...rep(COST.reduceSend, n - 2), COST.reduceCopySend, ...rep(COST.copySend, n - 2)], local: COST.recv };
}

export interface Chunking {
  chunkBytes: number;
  maxChunks: number;
}

/**
 * The chunks a block is pipelined in, in order. As NCCL loops over a buffer: whole chunks of
 * `chunkBytes` and a shorter last one, so a byte more never deepens the pipeline under the chunks
 * already there (cutting a block into equal chunks made time fall where a block passed a multiple
 * of the chunk: an H100 broadcast took 91 us for 4 MiB and 56 us for 4 MiB + 2 B). A block of
 * more than `maxChunks` whole chunks is cut into `maxChunks` equal ones (silica's bound on steps;
 * NCCL has none), which grow with it.
 */
export function chunkSizes(blockBytes: number, { chunkBytes, maxChunks }: Chunking): number[] {
  if (blockBytes <= chunkBytes) return [blockBytes];
  if (blockBytes >= maxChunks * chunkBytes) return new Array<number>(maxChunks).fill(blockBytes / maxChunks);
  const whole = Math.floor(blockBytes / chunkBytes);
  const rest = blockBytes - whole * chunkBytes;
  const sizes = new Array<number>(whole).fill(chunkBytes);
  // Under a byte left over (a block is a buffer's share, not whole bytes, and may miss a multiple
  // of the chunk by rounding) rides with the last chunk rather than adding a step of its own.
  if (rest >= 1) sizes.push(rest);
  else sizes[whole - 1]! += rest;
  return sizes;
}

export function planRing(plan: Plan, rings: number[][], kind: RingKind, bytes: number, engine: EngineKind, chunking: Chunking): void {
  for (const ring of rings) {
    const n = ring.length;
    const ringBytes = bytes / rings.length;
    if (n === 1) {
      // One rank: NCCL copies the send buffer to the receive buffer (out of place), whatever the
      // collective; nothing crosses a link.
      plan.add({ gpu: ring[0]!, channel: plan.newChannel(), from: ring[0]!, to: ring[0]!, bytes: ringBytes, cost: COST.recv });
      continue;
    }
    const block = ringBytes / n;
    const sizes = chunkSizes(block, chunking);
    const chunks = sizes.length;
    const seq = linkSequence(kind, n, engine);
    const L = seq.link.length;
    // steps[p][k][s]
    const steps: Step[][][] = ring.map(() => Array.from({ length: chunks }, () => new Array<Step>(L)));
    ring.forEach((gpu, p) => {
      const channel = plan.newChannel();
      const to = ring[(p + 1) % n]!;
      for (let t = 0; t < chunks + L - 1; t++) {
        for (let k = Math.max(0, t - L + 1); k <= Math.min(chunks - 1, t); k++) {
          const s = t - k;
          steps[p]![k]![s] = plan.add({ gpu, channel, from: gpu, to, bytes: sizes[k]!, cost: seq.link[s]! });
        }
      }
    });
    ring.forEach((gpu, p) => {
      const pred = (p + n - 1) % n;
      const localChannel = seq.local ? plan.newChannel() : -1;
      for (let k = 0; k < chunks; k++) {
        for (let s = 1; s < L; s++) plan.link(steps[pred]![k]![s - 1]!, steps[p]![k]![s]!);
        if (seq.local) {
          const local = plan.add({ gpu, channel: localChannel, from: gpu, to: gpu, bytes: sizes[k]!, cost: seq.local });
          plan.link(steps[pred]![k]![L - 1]!, local);
        }
      }
    });
  }
}

/** Pipelined chain broadcast from `root` along each ring (rotated to start at the root). */
export function planBroadcast(plan: Plan, rings: number[][], root: number, bytes: number, chunking: Chunking): void {
  for (const ring of rings) {
    const n = ring.length;
    if (n === 1) {
      // One rank: the root's copy into its own receive buffer, as NCCL makes it (ring.ts: planRing).
      plan.add({ gpu: ring[0]!, channel: plan.newChannel(), from: ring[0]!, to: ring[0]!, bytes: bytes / rings.length, cost: COST.recv });
      continue;
    }
    const at = ring.indexOf(root);
    const order = [...ring.slice(at), ...ring.slice(0, at)];
    const ringBytes = bytes / rings.length;
    // A chain is a pipeline n - 1 hops deep: k chunks take (k + n - 2) chunk times, so its rate is
    // k / (k + n - 2) of the link's. `max_chunks` bounds the chunks of one ring block, and a ring
    // collective keeps every link busy from its first step whatever k is; a chain does not. Capped
    // at max_chunks, an 8-GPU broadcast ran at 8/14 of the link rate and a 32-GPU one at 8/38
    // (t3-baseline, 1 GiB: 36.3 ms where an all-gather of the same buffer took 7.5 ms). Up to
    // max_chunks x (n - 1) chunks the fill stays under 1/max_chunks of the time, and the chain's
    // (n - 1) channels still run fewer steps than an all-gather's n channels of max_chunks x (n - 1).
    const sizes = chunkSizes(ringBytes, { ...chunking, maxChunks: chunking.maxChunks * Math.max(1, n - 1) });
    let prev: Step[] | undefined;
    for (let p = 0; p < n - 1; p++) {
      const channel = plan.newChannel();
      const cur: Step[] = [];
      for (let k = 0; k < sizes.length; k++) {
        const step = plan.add({ gpu: order[p]!, channel, from: order[p]!, to: order[p + 1]!, bytes: sizes[k]!, cost: COST.push });
        if (prev) plan.link(prev[k]!, step);
        cur.push(step);
      }
      prev = cur;
    }
  }
}
