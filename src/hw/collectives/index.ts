import { SilicaError } from '../../core/errors.js';
import type { Dtype, HardwareConfig } from '../config/schema.js';
import { interconnectOf, type Interconnect } from '../link/topology.js';
import { System } from '../system.js';
import { planDirect, planSendRecv } from './direct.js';
import { execute, type EngineKind } from './execute.js';
import { planNvls } from './nvls.js';
import { Plan } from './plan.js';
import { planBroadcast, planRing, type Chunking } from './ring.js';
import { hamiltonianDecomposition, ringsFor } from './rings.js';
import { ringAllReduceEstimateNs, treeAllReduceEstimateNs } from './estimate.js';
import { planTree, type TreeChunking } from './tree.js';
import { treesFor, type GpuTree } from './trees.js';
import { TRANSFER_PRIORITY } from '../dma/dma.js';

/**
 * Collectives on a System: the entry points other layers (trace replay, tensor parallelism, T3,
 * serving) call. A collective is planned as explicit per-GPU steps (ring.ts, direct.ts, nvls.ts)
 * and executed as flows over links, HBM and an engine (execute.ts).
 *
 * Sizes follow nccl-tests: `bytes` is the per-GPU buffer ("size"): the all-reduce vector, the
 * reduce-scatter input, the all-gather output, the all-to-all send buffer, the broadcast buffer.
 * Bus bandwidth = algorithm bandwidth (bytes / time) x the factor that makes it comparable to link
 * bandwidth: 2(n-1)/n for all-reduce, (n-1)/n for reduce-scatter, all-gather and all-to-all, 1 for
 * broadcast and send/recv (nccl-tests doc/PERFORMANCE.md).
 */
export type CollectiveKind = 'all-reduce' | 'reduce-scatter' | 'all-gather' | 'all-to-all' | 'broadcast' | 'send-recv';
export const COLLECTIVE_KINDS: readonly CollectiveKind[] = ['all-reduce', 'reduce-scatter', 'all-gather', 'all-to-all', 'broadcast', 'send-recv'];
/**
 * Algorithms a caller may ask for (`--algo`): a new one is a planner, its name here, the kinds it
 * plans in `ALGO_KINDS` (the type checker asks for the entry) and its branch in `startCollective`.
 */
export const COLLECTIVE_ALGOS = ['auto', 'ring', 'direct', 'tree'] as const;
export type CollectiveAlgo = (typeof COLLECTIVE_ALGOS)[number];
/** What runs: the asked-for algorithms less auto, and NVLS, chosen only by topology. */
export type RunAlgo = Exclude<CollectiveAlgo, 'auto'> | 'nvls';

/**
 * The kinds each askable algorithm has a plan for. An algorithm asked for a kind not listed is
 * refused: without the list, a planner written for all-reduce alone would be handed an all-gather
 * and run its all-reduce plan under the all-gather's name, a wrong time with no error.
 */
const ALGO_KINDS: { readonly [A in Exclude<CollectiveAlgo, 'auto'>]: readonly CollectiveKind[] } = {
  ring: ['all-reduce', 'reduce-scatter', 'all-gather', 'broadcast'],
  direct: ['all-reduce', 'reduce-scatter', 'all-gather', 'all-to-all', 'send-recv'],
  // NCCL's tree is all-reduce only (its reduce-scatter and all-gather run on rings).
  tree: ['all-reduce'],
};

export interface CollectiveSpec {
  kind: CollectiveKind;
  /** Per-GPU buffer size in bytes (nccl-tests "size"). */
  bytes: number;
  /** GPU indices in the System. */
  ranks: number[];
  algo?: CollectiveAlgo;
  engine?: EngineKind;
  /** CUs the CU engine holds on each GPU (default interconnect.collective.cus). */
  cus?: number;
  dtype?: Dtype;
  /** Root of a broadcast, sender of a send/recv. */
  src?: number;
  /** Receiver of a send/recv. */
  dst?: number;
  priority?: number;
  name?: string;
}

export interface CollectiveOutcome {
  startNs: number;
  endNs: number;
  /** Payload bytes put on the fabric, each hop counted once. */
  linkBytes: number;
  /** DRAM bytes over all GPUs (reads, writes, near-memory update cost). */
  hbmBytes: number;
  /** Algorithm actually run: ring, direct, nvls or tree. */
  algo: RunAlgo;
  /** Rings (ring algorithm) the buffer was spread over. */
  rings: number;
}

/** nccl-tests' bus bandwidth factor: 0 for one rank where it counts link traffic (n - 1 of n shares). */
export function busBwFactor(kind: CollectiveKind, n: number): number {
  if (kind === 'all-reduce') return (2 * (n - 1)) / n;
  if (kind === 'broadcast' || kind === 'send-recv') return 1;
  return (n - 1) / n;
}

/** The group's rings and trees, each built at most once per collective: the choice and the plan both read them. */
interface GroupShapes {
  rings(): number[][];
  trees(): GpuTree[];
}

function groupShapes(ic: Interconnect, ranks: readonly number[]): GroupShapes {
  let rings: number[][] | undefined;
  let trees: GpuTree[] | undefined;
  return { rings: () => (rings ??= ringsFor(ic, ranks)), trees: () => (trees ??= treesFor(ic, ranks)) };
}

function chooseAlgo(system: System, ic: Interconnect, spec: CollectiveSpec, engine: EngineKind, ranks: readonly number[], treeChunking: TreeChunking, shapes: GroupShapes): RunAlgo {
  const algo = spec.algo ?? 'auto';
  const kind = spec.kind;
  // An algorithm a kind does not have is refused, never swapped for another unannounced (an
  // algorithm added to COLLECTIVE_ALGOS runs only for the kinds ALGO_KINDS gives it).
  if (kind === 'all-to-all' || kind === 'send-recv') {
    if (algo !== 'auto' && algo !== 'direct') throw new SilicaError(`--algo ${algo}: ${kind} has only a direct algorithm`);
    return 'direct';
  }
  if (kind === 'broadcast') {
    if (algo !== 'auto' && algo !== 'ring') throw new SilicaError(`--algo ${algo}: broadcast runs as a pipelined ring (chain)`);
    return 'ring';
  }
  if (algo !== 'auto') {
    const kinds = ALGO_KINDS[algo] as readonly CollectiveKind[] | undefined;
    if (!kinds?.includes(kind)) throw new SilicaError(`--algo ${algo}: expected an algorithm that plans ${kind} (${algo} plans ${kinds?.join(', ') ?? 'no kind'})`);
    if (algo === 'tree' && engine !== 'cu') throw new SilicaError(`--algo tree: expected --engine cu (NCCL's tree is a kernel; a DMA all-reduce runs on rings or direct)`);
    return algo;
  }
  const n = ranks.length;
  const oneNode = ranks.every((g) => ic.nodeOf(g) === ic.nodeOf(ranks[0]!));
  const cfg = ic.config;
  if (kind === 'all-reduce' && engine === 'cu' && oneNode && n > 2 && cfg.topology === 'switch' && cfg.switch_reduction) return 'nvls';
  // A fully connected group whose links cannot all carry a ring (n = 4, 6) goes direct (all pairs at once).
  if (oneNode && cfg.topology === 'fully-connected' && n > 2 && hamiltonianDecomposition(n).length < n - 1) return 'direct';
  // Across nodes NCCL takes its tree where its cost model says it is faster (small all-reduces,
  // latency-bound on the ring's 2(n - 1) steps); here the same choice by closed forms of both
  // (estimate.ts) from the links', NICs' and CUs' rates and latencies.
  if (kind === 'all-reduce' && engine === 'cu' && !oneNode) {
    const cus = spec.cus ?? cfg.collective.cus;
    const ringNs = ringAllReduceEstimateNs(system, ic, shapes.rings(), spec.bytes, cus, treeChunking);
    const treeNs = treeAllReduceEstimateNs(system, ic, shapes.trees(), spec.bytes, cus, treeChunking);
    if (treeNs < ringNs) return 'tree';
  }
  return 'ring';
}

/**
 * A DMA engine drives one channel; when a ring's hops are faster than one engine (a switch port of
 * many links), the ring is run several times side by side on distinct engines, as copy engines are
 * ganged for peer copies, up to the engines the GPU has. A ring moves at its slowest hop's rate,
 * so that hop sets the engines it needs: a ring that crosses nodes through a 50 GB/s NIC needs
 * one 100 GB/s engine, not the four its first hop, an H100 switch port, asked for (which held
 * engines for no bandwidth). T3's fused reduce-scatter forwards over the same rings
 * (study/t3/configs.ts), so its bound's RS and its own agree.
 */
export function dmaRings(system: System, ic: Interconnect, rings: number[][]): number[][] {
  if (rings[0]!.length < 2) return rings;
  let hopGbps = Infinity;
  for (const ring of rings) {
    for (let i = 0; i < ring.length; i++) hopGbps = Math.min(hopGbps, ic.pathCapacity(ring[i]!, ring[(i + 1) % ring.length]!));
  }
  const maxReplicas = Math.max(1, Math.floor(system.hw.dma.engines / rings.length));
  const replicas = Math.min(maxReplicas, Math.max(1, Math.ceil(hopGbps / system.hw.dma.engine_gbps)));
  return Array.from({ length: replicas }, () => rings).flat();
}

function checkSpec(system: System, spec: CollectiveSpec): number[] {
  const name = spec.name ?? spec.kind;
  if (!COLLECTIVE_KINDS.includes(spec.kind)) throw new SilicaError(`collective: expected one of ${COLLECTIVE_KINDS.join(', ')}, got "${spec.kind}"`);
  if (!(spec.bytes >= 0) || !Number.isFinite(spec.bytes)) throw new SilicaError(`${name}: bytes: expected a non-negative size, got ${spec.bytes}`);
  const ranks = spec.kind === 'send-recv' ? [spec.src ?? spec.ranks[0]!, spec.dst ?? spec.ranks[1]!] : spec.ranks;
  if (ranks.length === 0 || ranks.some((g) => g === undefined)) throw new SilicaError(`${name}: expected at least one rank (send-recv: src and dst)`);
  const seen = new Set<number>();
  for (const g of ranks) {
    if (!Number.isInteger(g) || g < 0 || g >= system.gpus.length) throw new SilicaError(`${name}: rank ${g}: expected a GPU index from 0 to ${system.gpus.length - 1}`);
    if (seen.has(g)) throw new SilicaError(`${name}: rank ${g} appears twice`);
    seen.add(g);
  }
  // Only the CU engine holds CUs: a DMA collective reads no CU count.
  const cus = spec.cus ?? system.hw.interconnect.collective.cus;
  if ((spec.engine ?? 'cu') === 'cu' && (!Number.isInteger(cus) || cus < 1 || cus > system.hw.compute.cus)) {
    // Not given, the CU count is the part's default, which a smaller compute.cus (--set) can overrun.
    const field = spec.cus !== undefined ? '--cus' : 'interconnect.collective.cus';
    throw new SilicaError(`${field}: expected a whole number from 1 to compute.cus (${system.hw.compute.cus}), got ${cus}`);
  }
  if (spec.kind === 'broadcast' && spec.src !== undefined && !ranks.includes(spec.src)) throw new SilicaError(`${name}: root ${spec.src} is not one of the ranks`);
  return ranks;
}

/** Starts a collective now; `onComplete` fires when the last byte has arrived on every GPU. */
export function startCollective(system: System, spec: CollectiveSpec, onComplete: (o: CollectiveOutcome) => void): void {
  const ranks = checkSpec(system, spec);
  const ic = interconnectOf(system);
  ic.checkConnected(ranks);
  const engine = spec.engine ?? 'cu';
  const c = system.hw.interconnect.collective;
  const chunking: Chunking = { chunkBytes: c.chunk_bytes, maxChunks: c.max_chunks };
  const treeChunking: TreeChunking = { ...chunking, minChunkBytes: c.tree_min_chunk_bytes };
  const shapes = groupShapes(ic, ranks);
  const algo = chooseAlgo(system, ic, spec, engine, ranks, treeChunking, shapes);
  const plan = new Plan();
  let rings = 0;
  if (spec.kind === 'send-recv') planSendRecv(plan, ranks[0]!, ranks[1]!, spec.bytes, chunking);
  else if (spec.kind === 'all-to-all') planDirect(plan, ranks, 'all-to-all', spec.bytes, engine, chunking);
  else if (algo === 'nvls') planNvls(plan, ic, ranks, spec.bytes, chunking);
  else if (algo === 'tree') planTree(plan, shapes.trees(), spec.bytes, treeChunking);
  else if (algo === 'direct') planDirect(plan, ranks, spec.kind as 'all-reduce', spec.bytes, engine, chunking);
  else {
    // Every ring the group has, whatever the size. NCCL runs fewer channels for small messages, as
    // each costs it set-up and synchronisation; silica models no such cost, so a ring left out could
    // only slow a collective, and leaving rings out below a size made time fall as bytes grew
    // (8-GPU all-reduce on MI300X: 64.5 us for 1 MiB - 1 B on one ring, 44.0 us for 1 MiB on two).
    // A small message is latency-bound on any number of rings.
    const ringList = engine === 'dma' ? dmaRings(system, ic, shapes.rings()) : shapes.rings();
    rings = ringList.length;
    if (spec.kind === 'broadcast') planBroadcast(plan, ringList, spec.src ?? ranks[0]!, spec.bytes, chunking);
    else planRing(plan, ringList, spec.kind as 'all-reduce', spec.bytes, engine, chunking);
  }
  execute(
    system,
    plan,
    { engine, cus: spec.cus ?? c.cus, priority: spec.priority ?? TRANSFER_PRIORITY, name: spec.name ?? spec.kind },
    (r) => onComplete({ ...r, algo, rings }),
  );
}

export interface CollectiveRun extends CollectiveOutcome {
  timeNs: number;
  algBwGbps: number;
  busBwGbps: number;
}

/** Runs one collective alone on a fresh System of `gpus` GPUs (ranks default to all of them). */
export function simulateCollective(hw: HardwareConfig, gpus: number, spec: Omit<CollectiveSpec, 'ranks'> & { ranks?: number[] }): CollectiveRun {
  const system = new System(hw, gpus);
  interconnectOf(system); // validates the GPU count against the node(s) first
  const ranks = spec.ranks ?? Array.from({ length: gpus }, (_, i) => i);
  let outcome: CollectiveOutcome | undefined;
  startCollective(system, { ...spec, ranks }, (o) => (outcome = o));
  system.sim.run();
  if (!outcome) throw new Error(`collective ${spec.kind} did not complete`);
  const timeNs = outcome.endNs - outcome.startNs;
  const n = spec.kind === 'send-recv' ? 2 : ranks.length;
  const algBwGbps = timeNs > 0 ? spec.bytes / timeNs : 0;
  return { ...outcome, timeNs, algBwGbps, busBwGbps: algBwGbps * busBwFactor(spec.kind, n) };
}
