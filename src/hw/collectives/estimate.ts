import type { Resource } from '../../core/flow-network.js';
import type { Interconnect } from '../link/topology.js';
import type { System } from '../system.js';
import { collectiveBytesPerNsPerCu } from './execute.js';
import { chunkSizes, type Chunking } from './ring.js';
import { treeChunkSizes, treeDepth, type TreeChunking } from './tree.js';
import type { GpuTree } from './trees.js';

/**
 * Closed-form times of a CU-engine all-reduce on rings and on trees, from the parts' link and NIC
 * latencies and bandwidths, the hops of each ring and tree, and the CUs' per-channel rate: what
 * `auto` compares to take the faster across nodes, as NCCL's tuning (src/graph/tuning.cc) takes
 * the algorithm of least base latency + hops x hop latency + bytes / bandwidth. No constant is
 * fitted to a crossover: the crossover is where these two lines meet.
 *
 * Bandwidth: every resource's bytes over its capacity, the largest of them (link and NIC ports
 * carry payload / protocol_efficiency; a channel's CUs move its steps' DRAM bytes). Latency: the
 * chain of hops one chunk must cross before the last byte arrives.
 * - Ring: 2(n - 1) steps in sequence, each a hop of the ring; one chunk per block pays every
 *   step's latency and its transfer, and the transfers of all chunks add up to the bandwidth
 *   term, so time = launch + the latencies of the ring's worst 2(n - 1) consecutive hops + the
 *   bandwidth term (exact for one chunk; the pipeline hides part of the latencies past one).
 * - Tree: a pipeline, up from the deepest leaf to the root and down again; the first chunk
 *   crosses every stage (its latency and its transfer) and the others follow at the slowest
 *   stage's pace: launch + sum over the path of (latency + chunk time) + (chunks - 1) x the
 *   slowest chunk time.
 */
interface Load {
  bytes: Map<Resource, number>;
  add(r: Resource, b: number): void;
  seconds(r: Resource): number;
}

function newLoad(): Load {
  const bytes = new Map<Resource, number>();
  return {
    bytes,
    add: (r, b) => bytes.set(r, (bytes.get(r) ?? 0) + b),
    seconds: (r) => (bytes.get(r) ?? 0) / r.capacity,
  };
}

function launchNs(system: System): number {
  return system.hw.compute.kernel_launch_ns;
}

/** Per-channel CU rate (bytes/ns) of a GPU running `channels` link channels (execute.ts deals the held CUs evenly). */
function channelRate(system: System, cus: number, channels: number): number {
  return (cus * collectiveBytesPerNsPerCu(system)) / Math.max(1, channels);
}

export function ringAllReduceEstimateNs(system: System, ic: Interconnect, rings: readonly number[][], bytes: number, cus: number, chunking: Chunking): number {
  const n = rings[0]!.length;
  if (n < 2) return launchNs(system);
  const eff = system.hw.interconnect.collective.protocol_efficiency;
  const steps = 2 * (n - 1);
  const ringBytes = bytes / rings.length;
  // Each GPU sends 2(n - 1) blocks of each ring it is on.
  const perGpuPayload = (ringBytes * steps) / n;
  const load = newLoad();
  for (const ring of rings) for (let i = 0; i < n; i++) for (const l of ic.hops(ring[i]!, ring[(i + 1) % n]!)) load.add(l.resource, perGpuPayload / eff);
  let bwNs = 0;
  for (const r of load.bytes.keys()) bwNs = Math.max(bwNs, load.seconds(r));
  // A ring's channel reads two inputs and writes one (recvReduceSend) or reads one and writes two
  // (recvCopySend): three DRAM bytes through its CUs per payload byte.
  const cuRate = channelRate(system, cus, rings.length) / 3;
  const sizes = chunkSizes(ringBytes / n, chunking);
  const chunk = sizes[0]!;
  let ns = Math.max(bwNs, perGpuPayload / cuRate);
  for (const ring of rings) {
    // The first chunk's steps run at their own hop's rate (their CUs' or the hop's); once every
    // GPU of every ring sends at once, each hop gets its share of its ports.
    const aloneNs = ring.map((g, i) => chunk / Math.min(cuRate, ic.pathCapacity(g, ring[(i + 1) % n]!) * eff));
    const sharedNs = ring.map((g, i) => {
      let rate = cuRate;
      for (const l of ic.hops(g, ring[(i + 1) % n]!)) rate = Math.min(rate, perGpuPayload / load.seconds(l.resource));
      return chunk / rate;
    });
    const hopNs = ring.map((g, i) => ic.latencyNs(g, ring[(i + 1) % n]!) + aloneNs[i]!);
    // The first chunk of the block that crosses the ring's worst 2(n - 1) consecutive hops, then
    // the rest of the block at the slowest GPU's pace (2(n - 1) steps of it).
    let chainNs = 0;
    for (let start = 0; start < n; start++) {
      let sum = 0;
      for (let s = 0; s < steps; s++) sum += hopNs[(start + s) % n]!;
      chainNs = Math.max(chainNs, sum);
    }
    const restBytes = ringBytes / n - chunk;
    ns = Math.max(ns, chainNs + (steps * Math.max(...sharedNs) * restBytes) / chunk);
  }
  return launchNs(system) + ns;
}

export function treeAllReduceEstimateNs(system: System, ic: Interconnect, trees: readonly GpuTree[], bytes: number, cus: number, chunking: TreeChunking): number {
  const eff = system.hw.interconnect.collective.protocol_efficiency;
  const share = bytes / trees.length;
  if (trees[0]!.order.length < 2) return launchNs(system);
  // Link channels per GPU (tree.ts: the root one, others one up and, with children, one down).
  const channels = new Map<number, number>();
  for (const t of trees) {
    for (const g of t.order) channels.set(g, (channels.get(g) ?? 0) + (t.parent.has(g) && t.children.get(g)!.length > 0 ? 2 : 1));
  }
  // Every step of every tree as a flow: its receivers, and its rate on its channel's CUs (DRAM
  // bytes per payload byte: a leaf's send 2, a reduce-and-send children + 2, the root's reduce,
  // keep and send 2 children + 2, a keep-and-forward children + 2).
  interface Flow { gpu: number; to: number[]; cuRate: number }
  const flows: Flow[][] = trees.map((t) =>
    t.order.map((g) => {
      const kids = t.children.get(g)!;
      const parent = t.parent.get(g);
      const cuBytes = parent === undefined ? 2 * kids.length + 2 : kids.length + 2;
      return { gpu: g, to: parent === undefined ? kids : [parent], cuRate: channelRate(system, cus, channels.get(g)!) / cuBytes };
    }),
  );
  const downFlows: Flow[][] = trees.map((t) =>
    t.order
      .filter((g) => t.parent.has(g) && t.children.get(g)!.length > 0)
      .map((g) => ({ gpu: g, to: t.children.get(g)!, cuRate: channelRate(system, cus, channels.get(g)!) / (2 + t.children.get(g)!.length) })),
  );
  // Links and NICs: all of the trees' bytes over each one's capacity. In the steady state every
  // stage of a tree moves its share at the tree's pace, so a port shared by many stages gives each
  // the port's rate over all the bytes it carries: a stage runs at the lower of that and its CUs'.
  const load = newLoad();
  for (const f of [...flows.flat(), ...downFlows.flat()]) for (const r of f.to) for (const l of ic.hops(f.gpu, r)) load.add(l.resource, share / eff);
  let bwNs = 0;
  for (const r of load.bytes.keys()) bwNs = Math.max(bwNs, load.seconds(r));
  // The first chunk crosses ports the other stages do not use yet: its stages run alone.
  const aloneRate = (f: Flow): number => {
    let rate = f.cuRate;
    for (const r of f.to) rate = Math.min(rate, ic.pathCapacity(f.gpu, r) * eff);
    return rate;
  };
  const sharedRate = (f: Flow): number => {
    let rate = f.cuRate;
    for (const r of f.to) for (const l of ic.hops(f.gpu, r)) rate = Math.min(rate, share / load.seconds(l.resource));
    return rate;
  };
  let pipelineNs = 0;
  trees.forEach((t, i) => {
    const sizes = treeChunkSizes(share, treeDepth(t), chunking);
    const chunk = sizes[0]!;
    const upNs = new Map<number, number>();
    const downNs = new Map<number, number>();
    let slowestNs = 0;
    for (const f of flows[i]!) {
      slowestNs = Math.max(slowestNs, chunk / sharedRate(f));
      (t.parent.has(f.gpu) ? upNs : downNs).set(f.gpu, chunk / aloneRate(f));
    }
    for (const f of downFlows[i]!) {
      slowestNs = Math.max(slowestNs, chunk / sharedRate(f));
      downNs.set(f.gpu, chunk / aloneRate(f));
    }
    // The first chunk: up from the deepest leaf (a GPU sends once its children's partials are in),
    // then down from the root; the others follow at the slowest stage's pace.
    const upAt = new Map<number, number>();
    for (const g of [...t.order].reverse()) {
      const ready = Math.max(0, ...t.children.get(g)!.map((c) => upAt.get(c)!));
      const parent = t.parent.get(g);
      upAt.set(g, parent === undefined ? ready : ready + upNs.get(g)! + ic.latencyNs(g, parent));
    }
    const downAt = new Map<number, number>([[t.root, upAt.get(t.root)!]]);
    let last = 0;
    for (const g of t.order) {
      const kids = t.children.get(g)!;
      if (kids.length === 0) last = Math.max(last, downAt.get(g)!);
      for (const c of kids) downAt.set(c, downAt.get(g)! + downNs.get(g)! + ic.latencyNs(g, c));
    }
    pipelineNs = Math.max(pipelineNs, last + (sizes.length - 1) * slowestNs);
  });
  return launchNs(system) + Math.max(pipelineNs, bwNs);
}
