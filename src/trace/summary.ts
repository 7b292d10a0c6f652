import type { HardwareConfig } from '../hw/config/schema.js';
import { costKernel, type KernelDesc } from '../kernels/desc.js';
import { COMM_TYPE_NAMES, NODE_TYPE_NAMES, NodeType, numAttr, boolAttr, type ChakraEtFile } from './chakra/et.js';
import { inNode } from './kernel-fields.js';
import { programOf, programWhere, type Trace, type TraceNode } from './types.js';

/**
 * What `silica inspect` reports: counts of a trace's nodes, kernels, FLOPs, bytes and
 * collectives; for a Chakra ET also the file-level view (node types, collectives by type and
 * size, point-to-point messages, ids and dependency quirks), rank by rank, straight from the
 * decoded files so the counts can be checked against the files themselves.
 */
export interface TraceSummary {
  world_size: number;
  programs: number;
  /** Nodes of each stored program (one entry for an SPMD trace). */
  program_nodes: number[];
  meta: Trace['meta'];
  /** Nodes over all ranks (an SPMD program counts once per rank). */
  nodes: number;
  node_kinds: Record<string, number>;
  /** GPU kernels on all ranks: what replay costs on the part (host nodes are not among them). */
  kernels: number;
  /** Nodes that run on the host (CPU ops of an imported trace): replay holds their stream for their recorded duration. */
  host_nodes: number;
  /** Useful FLOPs of all kernels on all ranks. */
  flops: number;
  /** DRAM bytes of all kernels on all ranks, costed on `hw`. */
  hbm_bytes: number;
  hw: string;
  by_category: Record<string, { nodes: number; flops: number }>;
  by_pass: Record<string, { nodes: number; flops: number }>;
  /**
   * `count` counts collectives as replay runs them, one for all of a group's ranks; `nodes` and
   * `bytes` are per node (every rank taking part holds its own node, stating its size).
   */
  collectives: { count: number; nodes: number; bytes: number; by_kind: CollectiveKindSummary[] };
  p2p: { sends: number; recvs: number; bytes: number };
  streams: Record<string, number>;
}

export interface CollectiveKindSummary {
  kind: string;
  bytes: number;
  group: string;
  /** Collectives: nodes over the group's ranks (fractional only where ranks state different sizes for one collective). */
  count: number;
  /** Nodes, one per rank taking part. */
  nodes: number;
}

export function inspectTrace(trace: Trace, hw: HardwareConfig): TraceSummary {
  const kinds: Record<string, number> = { kernel: 0, collective: 0, send: 0, recv: 0, delay: 0 };
  const byCat: TraceSummary['by_category'] = {};
  const byPass: TraceSummary['by_pass'] = {};
  const coll = new Map<string, CollectiveKindSummary>();
  const streams: Record<string, number> = {};
  const costs = new Map<KernelDesc, { flops: number; bytes: number }>();
  let nodes = 0;
  let kernels = 0;
  let hostNodes = 0;
  let flops = 0;
  let hbm = 0;
  let collBytes = 0;
  let collNodes = 0;
  let collCount = 0;
  const p2p = { sends: 0, recvs: 0, bytes: 0 };
  for (let r = 0; r < trace.worldSize; r++) {
    const where = programWhere(trace, r);
    for (const n of programOf(trace, r)) {
      nodes++;
      kinds[n.kind] = (kinds[n.kind] ?? 0) + 1;
      streams[n.stream] = (streams[n.stream] ?? 0) + 1;
      let f = 0;
      // Counted as replay runs them: a host node holds its stream for its duration, whatever its kind.
      if (n.device === 'host') {
        hostNodes++;
        tally(byCat, n.category, 0);
        tally(byPass, n.pass, 0);
        continue;
      }
      if (n.kind === 'kernel') {
        kernels++;
        let c: { flops: number; bytes: number };
        try {
          c = cost(costs, hw, n.kernel!);
        } catch (err) {
          throw inNode(err, where, n);
        }
        f = c.flops;
        flops += c.flops;
        hbm += c.bytes;
      }
      tally(byCat, n.category, f);
      tally(byPass, n.pass, f);
      if (n.kind === 'collective') addCollective(coll, n, trace.worldSize);
      if (n.kind === 'collective') {
        collNodes++;
        collCount += 1 / groupSize(n, trace.worldSize);
        collBytes += n.collective!.bytes;
      }
      if (n.kind === 'send') {
        p2p.sends++;
        p2p.bytes += n.bytes ?? 0;
      }
      if (n.kind === 'recv') p2p.recvs++;
    }
  }
  const byKind = [...coll.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.bytes - b.bytes || a.group.localeCompare(b.group));
  return {
    world_size: trace.worldSize,
    programs: trace.programs.length,
    program_nodes: trace.programs.map((p) => p.length),
    meta: trace.meta,
    nodes,
    node_kinds: kinds,
    kernels,
    host_nodes: hostNodes,
    flops,
    hbm_bytes: hbm,
    hw: hw.name,
    by_category: byCat,
    by_pass: byPass,
    // Summed as fractions: each of an instance's nodes adds 1 / its group's size.
    collectives: { count: Math.round(collCount * 1e9) / 1e9, nodes: collNodes, bytes: collBytes, by_kind: byKind },
    p2p,
    streams,
  };
}

function cost(memo: Map<KernelDesc, { flops: number; bytes: number }>, hw: HardwareConfig, desc: KernelDesc) {
  let c = memo.get(desc);
  if (!c) {
    const k = costKernel(hw, desc);
    c = { flops: k.flops, bytes: k.hbmReadBytes + k.hbmWriteBytes };
    memo.set(desc, c);
  }
  return c;
}

function tally(m: Record<string, { nodes: number; flops: number }>, key: string, flops: number): void {
  const e = (m[key] ??= { nodes: 0, flops: 0 });
  e.nodes++;
  e.flops += flops;
}

/** Ranks taking part in a collective node: its group, or every rank. */
const groupSize = (n: TraceNode, world: number): number => n.collective!.group.length || world;

function addCollective(m: Map<string, CollectiveKindSummary>, n: TraceNode, world: number): void {
  const c = n.collective!;
  const group = c.group.length ? c.group.join(',') : `all ${world}`;
  const key = `${c.kind}|${c.bytes}|${group}`;
  let e = m.get(key);
  if (!e) m.set(key, (e = { kind: c.kind, bytes: c.bytes, group, count: 0, nodes: 0 }));
  e.nodes++;
  e.count = e.nodes / groupSize(n, world);
}

// ---------------------------------------------------------------------------------------------
// Chakra file-level view

export interface ChakraFileSummary {
  rank: number;
  file: string;
  bytes: number;
  metadata: { version: string; attrs: string[] };
  nodes: number;
  node_types: Record<string, number>;
  /** COMM_COLL_NODEs with comm_type, by type and comm_size. */
  collectives: Array<{ type: string; bytes: number; count: number }>;
  /** COMM_COLL_NODEs without comm_type/comm_size (PyTorch's CPU-side c10d ops). */
  collectives_without_comm_type: number;
  p2p: Array<{ type: 'send' | 'recv'; peer: number; bytes: number; count: number }>;
  ids: { min: number; max: number };
  ctrl_deps: number;
  data_deps: number;
  /** Dependencies naming ids absent from the file (treated as satisfied). */
  missing_deps: number;
  /** Dependencies on nodes later in the file. */
  forward_deps: number;
  cpu_ops: number;
  gpu_ops: number;
  comp_duration_micros: number;
  gpu_comp_duration_micros: number;
}

export function inspectChakraFile(f: ChakraEtFile): ChakraFileSummary {
  const types: Record<string, number> = {};
  const coll = new Map<string, { type: string; bytes: number; count: number }>();
  const p2p = new Map<string, { type: 'send' | 'recv'; peer: number; bytes: number; count: number }>();
  const index = new Map<number, number>();
  f.nodes.forEach((n, i) => index.set(n.id, i));
  let noType = 0;
  let ctrl = 0;
  let data = 0;
  let missing = 0;
  let forward = 0;
  let cpu = 0;
  let compMicros = 0;
  let gpuCompMicros = 0;
  let minId = Infinity;
  let maxId = -Infinity;
  f.nodes.forEach((n, i) => {
    const tname = NODE_TYPE_NAMES[n.type] ?? String(n.type);
    types[tname] = (types[tname] ?? 0) + 1;
    minId = Math.min(minId, n.id);
    maxId = Math.max(maxId, n.id);
    ctrl += n.ctrlDeps.length;
    data += n.dataDeps.length;
    for (const d of [...n.ctrlDeps, ...n.dataDeps]) {
      const j = index.get(d);
      if (j === undefined) missing++;
      else if (j > i) forward++;
    }
    const isCpu = boolAttr(n, 'is_cpu_op', f.path) ?? false;
    if (isCpu) cpu++;
    if (n.type === NodeType.COMP) {
      compMicros += n.durationMicros;
      if (!isCpu) gpuCompMicros += n.durationMicros;
    }
    if (n.type === NodeType.COLL) {
      const t = numAttr(n, 'comm_type', f.path);
      const size = numAttr(n, 'comm_size', f.path);
      if (t === undefined || size === undefined) noType++;
      else {
        const type = COMM_TYPE_NAMES[t] ?? String(t);
        const key = `${type}|${size}`;
        const e = coll.get(key);
        if (e) e.count++;
        else coll.set(key, { type, bytes: size, count: 1 });
      }
    }
    if (n.type === NodeType.SEND || n.type === NodeType.RECV) {
      const type = n.type === NodeType.SEND ? 'send' : 'recv';
      const peer = numAttr(n, type === 'send' ? 'comm_dst' : 'comm_src', f.path) ?? -1;
      const size = numAttr(n, 'comm_size', f.path) ?? 0;
      const key = `${type}|${peer}|${size}`;
      const e = p2p.get(key);
      if (e) e.count++;
      else p2p.set(key, { type, peer, bytes: size, count: 1 });
    }
  });
  return {
    rank: f.rank,
    file: f.path,
    bytes: f.bytes,
    metadata: { version: f.version, attrs: [...f.metadata.keys()] },
    nodes: f.nodes.length,
    node_types: types,
    collectives: [...coll.values()].sort((a, b) => a.type.localeCompare(b.type) || a.bytes - b.bytes),
    collectives_without_comm_type: noType,
    p2p: [...p2p.values()].sort((a, b) => a.type.localeCompare(b.type) || a.peer - b.peer || a.bytes - b.bytes),
    ids: f.nodes.length ? { min: minId, max: maxId } : { min: 0, max: 0 },
    ctrl_deps: ctrl,
    data_deps: data,
    missing_deps: missing,
    forward_deps: forward,
    cpu_ops: cpu,
    gpu_ops: f.nodes.length - cpu,
    comp_duration_micros: compMicros,
    gpu_comp_duration_micros: gpuCompMicros,
  };
}
