import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { SilicaError } from '../../core/errors.js';
import { countOf } from '../../core/units.js';
import type { KernelDesc } from '../../kernels/desc.js';
import type { OpCategory, Pass } from '../../kernels/types.js';
import { checkKernelDesc, checkNodeTaxonomy } from '../kernel-fields.js';
import { setProgramSource, type Trace, type TraceCollectiveKind, type TraceMeta, type TraceNode } from '../types.js';
import { boolAttr, COMM_TYPE_NAMES, decodeChakraEt, NodeType, numAttr, strAttr, type ChakraEtFile, type ChakraNode } from './et.js';
import { chakraRankFiles, findCommGroupsFile, pgNameToGroupId, readCommGroups, type CommGroups } from './files.js';

/**
 * Chakra ET -> silica Trace, one program per rank. How each node becomes a TraceNode:
 *
 * - COMP_NODE on the GPU: a `generic` kernel from `num_ops` (FLOPs) and `tensor_size` (bytes) when
 *   num_ops is present, keeping `duration_micros` as durationNs too; replay picks one (its
 *   `chakraTiming` option: recorded duration when present, else the model). Without num_ops it is
 *   a fixed-duration node.
 * - CPU ops (`is_cpu_op` true, of any type): host nodes of their recorded duration.
 * - COMM_COLL_NODE: a collective from `comm_type` and `comm_size` over the `pg_name` group (all
 *   ranks when absent). The PyTorch converter's CPU-side c10d wrappers carry neither; they are
 *   host nodes. `comm_type` is read as a CollectiveCommType only here: on send/recv nodes it
 *   holds the NodeType number.
 * - COMM_SEND/RECV_NODE: point-to-point, peer from `comm_dst` / `comm_src`, `comm_tag` (0 when absent).
 * - MEM_LOAD/STORE_NODE: a memcpy of `tensor_size` bytes; METADATA/INVALID: zero-time placeholders.
 *
 * Dependencies are data_deps, as in Chakra's ETFeeder that ASTRA-sim replays with. The PyTorch
 * converter writes the enclosing (parent) op into ctrl_deps: in the real trace under
 * ../shared/data/chakra 383 nodes name themselves there and kernel/launcher pairs name each other,
 * so enforcing ctrl_deps would deadlock a trace that ran. They are counted and reported
 * (meta.chakra_ctrl_deps), and `ctrlDeps: true` enforces them (self-references dropped). Ids
 * absent from the file (the PyTorch trace names 1277 parents that were not kept) are treated as
 * satisfied and counted in meta.chakra_missing_deps; forward dependencies are fine (counted in
 * meta.chakra_forward_deps); a cycle among the enforced dependencies is an error (graph.ts). Streams: `tid` when the
 * generator records it (PyTorch: the CUDA stream or CPU thread), else one stream per node class.
 * Attributes `silica_*` (written by silica's exporter) restore the exact kernel, category, pass,
 * stream and layer, so a silica-emitted ET replays like the trace it came from.
 */
export interface ChakraImport {
  trace: Trace;
  files: ChakraEtFile[];
  prefix: string;
  commGroupsFile?: string;
}

export interface ChakraReadOptions {
  /** comm_group.json resolving pg_name; default: searched beside the trace (files.ts). */
  commGroupsFile?: string;
  /** Enforce ctrl_deps as well as data_deps (default false, as Chakra's feeder). */
  ctrlDeps?: boolean;
}

export function readChakraTrace(path: string, options: ChakraReadOptions = {}): ChakraImport {
  const found = chakraRankFiles(path)!;
  const files = found.files.map((f, rank) => decodeChakraEt(readBytes(f), f, rank));
  const groupsFile = options.commGroupsFile ?? findCommGroupsFile(found.prefix);
  const groups = groupsFile ? readCommGroups(groupsFile) : undefined;
  return { trace: chakraToTrace(files, found.prefix, groups, options.ctrlDeps ?? false), files, prefix: found.prefix, commGroupsFile: groupsFile };
}

function readBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SilicaError(`${file}: cannot read (${err instanceof Error ? err.message : String(err)})`, { file });
  }
}

const COMM_KIND: TraceCollectiveKind[] = ['all-reduce', 'reduce', 'all-gather', 'gather', 'scatter', 'broadcast', 'all-to-all', 'reduce-scatter', 'reduce-scatter-block', 'barrier'];

export function chakraToTrace(files: ChakraEtFile[], prefix: string, groups?: CommGroups, enforceCtrlDeps = false): Trace {
  const worldSize = files.length;
  RanksNamed.checkNoExtraFiles(files, prefix);
  let missingDeps = 0;
  let forwardDeps = 0;
  let ctrlDeps = 0;
  let unresolvedPg = 0;
  const named = new RanksNamed(files[0]!);
  const programs = files.map((f) => {
    const ids = new Map<number, number>();
    f.nodes.forEach((n, i) => ids.set(n.id, i));
    const program = f.nodes.map((n, i) => {
      const node = convertNode(n, f, groups, () => unresolvedPg++);
      named.node(node);
      const deps: number[] = [];
      for (const list of [n.dataDeps, n.ctrlDeps]) {
        const enforce = list === n.dataDeps || enforceCtrlDeps;
        for (const d of list) {
          if (list === n.ctrlDeps) ctrlDeps++;
          const j = ids.get(d);
          if (j === undefined) {
            missingDeps++;
            continue;
          }
          if (j > i) forwardDeps++;
          if (enforce && d !== n.id && !deps.includes(d)) deps.push(d);
        }
      }
      node.deps = deps;
      return node;
    });
    setProgramSource(program, f.path);
    return program;
  });
  named.check(prefix, worldSize);
  programs.forEach((program, r) => inheritPassFromLauncher(program, files[r]!));
  const f0 = files[0]!;
  const meta: TraceMeta = { format: 'chakra', chakra_prefix: basename(prefix), chakra_missing_deps: missingDeps, chakra_forward_deps: forwardDeps };
  if (ctrlDeps) meta.chakra_ctrl_deps = `${ctrlDeps} ${enforceCtrlDeps ? 'enforced' : 'not enforced'}`;
  if (f0.version) meta.chakra_version = f0.version;
  const schema = f0.metadata.get('schema');
  if (typeof schema === 'string') meta.chakra_schema = schema;
  if (unresolvedPg) meta.chakra_unresolved_pg_names = unresolvedPg;
  for (const [k, v] of f0.metadata) {
    if (k.startsWith('silica.') && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) meta[k.slice('silica.'.length)] = v;
  }
  return { meta, worldSize, programs };
}

/**
 * The ranks a Chakra trace names beyond its files: collective groups (pg_name through
 * comm_group.json), send/recv peers, and the world size silica's exporter records (attr
 * silica_world_size; older silica ETs: tp x dp of their silica.* metadata). A rank file copied
 * alone must not replay as a one-GPU trace whose collectives have no peers. Collectives over
 * "all ranks" (no pg_name) name no count, so a foreign rank-0-only trace (as the PyTorch
 * converter's) still loads.
 */
class RanksNamed {
  private need = 0;
  private why = '';

  constructor(f0: ChakraEtFile) {
    const stated = statedRanks(f0);
    if (stated) this.raise(stated.ranks, stated.why);
  }

  /**
   * Rank files beyond the world size their own metadata states: an export with fewer ranks into a
   * prefix that held one with more overwrites ranks 0..n-1 and leaves the rest, which would
   * otherwise load as extra ranks of this trace (and fail later on mismatched collectives).
   */
  static checkNoExtraFiles(files: ChakraEtFile[], prefix: string): void {
    for (const f of files) {
      const stated = statedRanks(f);
      if (!stated || stated.ranks >= files.length) continue;
      const base = basename(prefix);
      const extra = stated.ranks === files.length - 1 ? `${base}.${stated.ranks}.et is` : `${base}.${stated.ranks}.et to ${base}.${files.length - 1}.et are`;
      throw new SilicaError(`${f.path}: ${stated.why}, but ${files.length} rank files were found: ${extra} not part of it (left by an earlier export to the same prefix?); remove them or export to a new prefix`, { file: f.path });
    }
  }

  private raise(ranks: number, why: string): void {
    if (Number.isSafeInteger(ranks) && ranks > this.need) {
      this.need = ranks;
      this.why = why;
    }
  }

  node(node: TraceNode): void {
    for (const r of node.collective?.group ?? []) this.raise(r + 1, `the collectives name ${r + 1} ranks`);
    if (node.peer !== undefined) this.raise(node.peer + 1, `the sends and receives name ${node.peer + 1} ranks`);
  }

  check(prefix: string, worldSize: number): void {
    if (this.need <= worldSize) return;
    const found = worldSize === 1 ? '0 only' : `0..${worldSize - 1}`;
    throw new SilicaError(`${prefix}: expected rank files 0..${this.need - 1} (${this.why}), found ${found}`, { file: prefix });
  }
}

/** The world size silica's exporter recorded in a rank file (older silica ETs: tp x dp), with how it is known. */
function statedRanks(f: ChakraEtFile): { ranks: number; why: string } | undefined {
  const stated = f.metadata.get('silica_world_size');
  const num = (k: string) => (typeof f.metadata.get(k) === 'number' ? (f.metadata.get(k) as number) : undefined);
  if (typeof stated === 'number') return { ranks: stated, why: `the metadata says ${countOf(stated, 'rank')} (silica_world_size)` };
  if (f.metadata.get('producer') === 'silica' && num('silica.tp') !== undefined) {
    const tp = num('silica.tp')!;
    const dp = num('silica.dp') ?? 1;
    return { ranks: tp * dp, why: `the metadata says ${countOf(tp * dp, 'rank')}: silica.tp ${tp} x silica.dp ${dp}` };
  }
  return undefined;
}

function convertNode(n: ChakraNode, f: ChakraEtFile, groups: CommGroups | undefined, unresolved: () => void): TraceNode {
  const path = f.path;
  const where = `${path}: node ${n.id} "${n.name}"`;
  const isCpu = boolAttr(n, 'is_cpu_op', path) ?? false;
  const tid = numAttr(n, 'tid', path);
  const recordedNs = numAttr(n, 'silica_duration_ns', path) ?? (n.durationMicros > 0 ? n.durationMicros * 1000 : undefined);
  const category = (strAttr(n, 'silica_category') as OpCategory | undefined) ?? categoryFromName(n.name, n.type);
  const pass = (strAttr(n, 'silica_pass') as Pass | undefined) ?? passFromName(n.name);
  const stream = strAttr(n, 'silica_stream') ?? (isCpu ? (tid !== undefined ? `host${tid}` : 'host') : tid !== undefined ? `stream${tid}` : DEFAULT_STREAM[n.type] ?? 'compute');
  const node: TraceNode = { id: n.id, name: n.name, kind: 'delay', category, pass, deps: [], stream };
  checkNodeTaxonomy(node, where, { category: 'attr silica_category', pass: 'attr silica_pass' }, path);
  const layer = numAttr(n, 'silica_layer', path);
  if (layer !== undefined) node.layer = layer;
  if (recordedNs !== undefined && !(Number.isFinite(recordedNs) && recordedNs >= 0)) {
    throw new SilicaError(`${where}: attr silica_duration_ns: expected a duration >= 0, got ${recordedNs}`, { file: path, field: 'silica_duration_ns' });
  }
  if (recordedNs !== undefined) node.durationNs = recordedNs;
  if (isCpu) {
    node.device = 'host';
    node.durationNs = recordedNs ?? 0;
    return node;
  }
  switch (n.type) {
    case NodeType.COMP: {
      const kernel = kernelOf(n, path, category);
      if (kernel) checkKernelDesc(kernel, where, kernelAttr(n), path);
      if (kernel) {
        node.kind = 'kernel';
        node.kernel = kernel;
      }
      break;
    }
    case NodeType.COLL: {
      const type = numAttr(n, 'comm_type', path);
      const size = numAttr(n, 'comm_size', path);
      if (type === undefined || size === undefined) break;
      const kind = COMM_KIND[type];
      if (!kind) throw new SilicaError(`${where}: attr comm_type: expected a CollectiveCommType 0..9 (${COMM_TYPE_NAMES.join(', ')}), got ${type}`, { file: path, field: 'comm_type' });
      node.kind = 'collective';
      node.category = 'communication';
      if (!Number.isFinite(size) || size < 0) throw new SilicaError(`${where}: attr comm_size: expected a size >= 0 in bytes, got ${size}`, { file: path, field: 'comm_size' });
      node.collective = { kind, bytes: size, group: groupOf(n, f, groups, unresolved) };
      break;
    }
    case NodeType.SEND:
    case NodeType.RECV: {
      const isSend = n.type === NodeType.SEND;
      const peerAttr = isSend ? 'comm_dst' : 'comm_src';
      const peer = numAttr(n, peerAttr, path);
      const size = numAttr(n, 'comm_size', path);
      if (peer === undefined) throw new SilicaError(`${where}: attr ${peerAttr}: expected the ${isSend ? 'destination' : 'source'} rank of a ${isSend ? 'COMM_SEND_NODE' : 'COMM_RECV_NODE'}`, { file: path, field: peerAttr });
      if (size === undefined || !Number.isFinite(size) || size < 0) throw new SilicaError(`${where}: attr comm_size: expected the message size in bytes (>= 0)${size === undefined ? '' : `, got ${size}`}`, { file: path, field: 'comm_size' });
      if (!Number.isSafeInteger(peer) || peer < 0) throw new SilicaError(`${where}: attr ${peerAttr}: expected a rank >= 0, got ${peer}`, { file: path, field: peerAttr });
      node.kind = isSend ? 'send' : 'recv';
      node.category = 'communication';
      node.peer = peer;
      node.bytes = size;
      node.tag = numAttr(n, 'comm_tag', path) ?? 0;
      break;
    }
    case NodeType.MEM_LOAD:
    case NodeType.MEM_STORE: {
      const bytes = numAttr(n, 'tensor_size', path);
      if (bytes !== undefined) {
        node.kind = 'kernel';
        node.category = 'memcpy';
        node.kernel = { op: 'memcpy', name: n.name, bytes, category: 'memcpy' };
        checkKernelDesc(node.kernel, where, kernelAttr(n), path);
      }
      break;
    }
  }
  if (node.kind === 'delay') node.durationNs = recordedNs ?? 0;
  return node;
}

const DEFAULT_STREAM: Record<number, string> = {
  [NodeType.COMP]: 'compute',
  [NodeType.COLL]: 'comm',
  [NodeType.SEND]: 'send',
  [NodeType.RECV]: 'recv',
  [NodeType.MEM_LOAD]: 'memory',
  [NodeType.MEM_STORE]: 'memory',
};

/** Where a kernel field came from: the silica_kernel JSON, or the Chakra attribute it was built from. */
function kernelAttr(n: ChakraNode): (key: string) => string {
  if (n.attrs.has('silica_kernel')) return (key) => `attr silica_kernel.${key}`;
  return (key) => (key === 'flops' ? 'attr num_ops' : 'attr tensor_size');
}

function kernelOf(n: ChakraNode, path: string, category: OpCategory): KernelDesc | undefined {
  const json = strAttr(n, 'silica_kernel');
  if (json !== undefined) {
    try {
      return JSON.parse(json) as KernelDesc;
    } catch {
      throw new SilicaError(`${path}: node ${n.id} "${n.name}": attr silica_kernel: expected a JSON KernelDesc`, { file: path, field: 'silica_kernel' });
    }
  }
  const flops = numAttr(n, 'num_ops', path);
  if (flops === undefined) return undefined;
  const matrix = category === 'gemm' || category === 'attention';
  // Chakra gives no dtype; matrix work is taken as bf16 (training/inference default), vector as fp32.
  return { op: 'generic', name: n.name, flops, bytesRead: numAttr(n, 'tensor_size', path) ?? 0, bytesWritten: 0, dtype: matrix ? 'bf16' : 'fp32', category, matrix };
}

function groupOf(n: ChakraNode, f: ChakraEtFile, groups: CommGroups | undefined, unresolved: () => void): number[] {
  const pg = strAttr(n, 'pg_name');
  if (pg === undefined) return [];
  const where = `${f.path}: node ${n.id} "${n.name}": attr pg_name`;
  if (!groups) {
    unresolved();
    return [];
  }
  const id = pgNameToGroupId(pg);
  const ranks = id === undefined ? undefined : groups.get(id);
  if (!ranks) throw new SilicaError(`${where}: "${pg}" names no group of the comm_group.json (groups ${[...groups.keys()].join(', ')})`, { file: f.path, field: 'pg_name' });
  if (!ranks.includes(f.rank)) throw new SilicaError(`${where}: group ${id} (ranks ${ranks.join(',')}) does not include this file's rank ${f.rank}`, { file: f.path, field: 'pg_name' });
  return ranks;
}

/**
 * Chakra nodes carry no op category: infer one from the kernel/op name so breakdowns are useful
 * (cuDNN/cuBLAS/conv/matmul -> gemm, memcpy -> memcpy, norms -> layernorm, ...).
 */
export function categoryFromName(name: string, type: number): OpCategory {
  if (type === NodeType.COLL || type === NodeType.SEND || type === NodeType.RECV) return 'communication';
  if (type === NodeType.MEM_LOAD || type === NodeType.MEM_STORE) return 'memcpy';
  const n = name.toLowerCase();
  if (/nccl|c10d::|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all|broadcast/.test(n)) return 'communication';
  if (/memcpy|memset|dtod|htod|dtoh/.test(n)) return 'memcpy';
  if (/softmax/.test(n)) return 'softmax';
  if (/layer_?norm|batch_?norm|group_?norm|rms_?norm|\bbn_|_bn_|welford/.test(n)) return 'layernorm';
  if (/flash|attention|sdpa|fmha/.test(n)) return 'attention';
  if (/adam|lamb|sgd|optimizer/.test(n)) return 'optimizer';
  if (/gemm|matmul|addmm|bmm|linear|conv|cudnn|cutlass|xmma|wgrad|dgrad|mlp/.test(n)) return 'gemm';
  return 'elementwise';
}

export function passFromName(name: string): Pass {
  const n = name.toLowerCase();
  if (/adam|lamb|sgd|optimizer/.test(n)) return 'opt';
  if (/backward|bwd|grad|_bw_|^bw_/.test(n)) return 'bwd';
  return 'fwd';
}

/**
 * A GPU kernel's name rarely says its pass (cuDNN's bn_fw/bn_bw aside); the CPU op that launched
 * it does ("ConvolutionBackward0", "Optimizer.step"). The PyTorch converter makes every kernel
 * depend on its launching op, so a GPU node whose own name gave the default 'fwd' takes the pass
 * of a host node it depends on. Nodes with a silica_pass attribute keep theirs.
 */
function inheritPassFromLauncher(program: TraceNode[], f: ChakraEtFile): void {
  const byId = new Map(program.map((n) => [n.id, n]));
  program.forEach((n, i) => {
    if (n.device === 'host' || n.pass !== 'fwd' || f.nodes[i]!.attrs.has('silica_pass')) return;
    for (const d of n.deps) {
      const p = byId.get(d);
      if (p?.device === 'host' && p.pass !== 'fwd') {
        n.pass = p.pass;
        return;
      }
    }
  });
}
