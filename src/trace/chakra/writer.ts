import { SilicaError } from '../../core/errors.js';
import type { HardwareConfig } from '../../hw/config/schema.js';
import { costKernel, type KernelDesc } from '../../kernels/desc.js';
import { gzip, joinDelimited } from '../framing.js';
import { inNode } from '../kernel-fields.js';
import { chakraTypes } from '../proto.js';
import { programOf, type Trace, type TraceCollectiveKind, type TraceNode } from '../types.js';
import { NodeType } from './et.js';

/**
 * silica Trace -> Chakra ETs, one file per rank (an SPMD program is written once per rank).
 *
 * What Chakra consumers (ASTRA-sim's feeder) read is written with the value types the reference
 * generators use: comm_type and comm_size int64, comm_src/comm_dst/comm_tag int32, is_cpu_op bool,
 * num_ops int64 and tensor_size uint64 (FLOPs and DRAM bytes of the kernel costed on `hw`: a
 * Chakra COMP node has no shape, so these totals are what a roofline consumer can use). Groups go
 * in pg_name (a group id) plus a comm_group.json sidecar. silica's own view is kept in `silica_*`
 * attributes (the exact KernelDesc as JSON, category, pass, stream, layer, exact duration) that
 * other tools ignore and silica's reader uses to rebuild the same trace.
 */
export interface ChakraExport {
  /** Encoded ET of each rank, index = rank. */
  files: Uint8Array[];
  /** comm_group.json content ({"<group id>": [ranks]}); undefined when every collective spans all ranks. */
  commGroups?: Record<string, number[]>;
}

const COMM_TYPE: Record<TraceCollectiveKind, number> = {
  'all-reduce': 0,
  reduce: 1,
  'all-gather': 2,
  gather: 3,
  scatter: 4,
  broadcast: 5,
  'all-to-all': 6,
  'reduce-scatter': 7,
  'reduce-scatter-block': 8,
  barrier: 9,
};

export function encodeChakraTrace(trace: Trace, hw: HardwareConfig, options: { gzip?: boolean } = {}): ChakraExport {
  const t = chakraTypes();
  const groupIds = new Map<string, number>();
  const commGroups: Record<string, number[]> = {};
  for (let r = 0; r < trace.worldSize; r++) {
    for (const node of programOf(trace, r)) {
      const g = node.collective?.group;
      if (!g || g.length === 0) continue;
      const key = g.join(',');
      if (!groupIds.has(key)) {
        groupIds.set(key, groupIds.size);
        commGroups[String(groupIds.size - 1)] = [...g];
      }
    }
  }
  const totals = new Map<KernelDesc, { flops: number; bytes: number }>();
  const kernelTotals = (desc: KernelDesc) => {
    let v = totals.get(desc);
    if (!v) {
      const c = costKernel(hw, desc);
      v = { flops: Math.round(c.flops), bytes: Math.round(c.hbmReadBytes + c.hbmWriteBytes) };
      totals.set(desc, v);
    }
    return v;
  };
  // silica_world_size: a rank file read without its siblings is then an error, not a 1-GPU trace.
  const metaAttrs: Array<Record<string, unknown>> = [str('schema', '1.0.2-chakra.0.0.4'), str('producer', 'silica'), i64('silica_world_size', trace.worldSize)];
  for (const key of Object.keys(trace.meta).sort()) {
    const v = trace.meta[key]!;
    metaAttrs.push(typeof v === 'string' ? str(`silica.${key}`, v) : typeof v === 'number' ? { name: `silica.${key}`, double_val: v } : { name: `silica.${key}`, bool_val: v });
  }
  const files: Uint8Array[] = [];
  for (let r = 0; r < trace.worldSize; r++) {
    const messages = [t.metadata.encode(t.metadata.fromObject({ version: '0.0.4', attr: metaAttrs })).finish()];
    for (const node of programOf(trace, r)) {
      const obj = nodeObject(node, r, groupIds, kernelTotals);
      messages.push(t.node.encode(t.node.fromObject(obj)).finish());
    }
    const bytes = joinDelimited(messages);
    files.push(options.gzip ? gzip(bytes) : bytes);
  }
  return { files, commGroups: groupIds.size ? commGroups : undefined };
}

const str = (name: string, v: string) => ({ name, string_val: v });
const i64 = (name: string, v: number) => ({ name, int64_val: v });
const i32 = (name: string, v: number) => ({ name, int32_val: v });

function nodeObject(node: TraceNode, rank: number, groupIds: Map<string, number>, kernelTotals: (d: KernelDesc) => { flops: number; bytes: number }): Record<string, unknown> {
  const attr: Array<Record<string, unknown>> = [{ name: 'is_cpu_op', bool_val: node.device === 'host' }];
  let type: number = NodeType.COMP;
  const where = `chakra export: rank ${rank} node ${node.id} "${node.name}"`;
  switch (node.kind) {
    case 'kernel': {
      let k: { flops: number; bytes: number };
      try {
        k = kernelTotals(node.kernel!);
      } catch (err) {
        throw inNode(err, `chakra export: rank ${rank}`, node);
      }
      attr.push(i64('num_ops', k.flops), { name: 'tensor_size', uint64_val: k.bytes }, str('silica_kernel', JSON.stringify(node.kernel)));
      break;
    }
    case 'collective': {
      const c = node.collective!;
      type = NodeType.COLL;
      attr.push(i64('comm_type', COMM_TYPE[c.kind]), i64('comm_size', whole(c.bytes, where, 'collective.bytes')));
      if (c.group.length) attr.push(str('pg_name', String(groupIds.get(c.group.join(','))!)));
      break;
    }
    case 'send':
    case 'recv': {
      type = node.kind === 'send' ? NodeType.SEND : NodeType.RECV;
      const [src, dst] = node.kind === 'send' ? [rank, node.peer!] : [node.peer!, rank];
      // comm_type on p2p nodes holds the NodeType number, as Chakra's converters write it.
      attr.push(i64('comm_type', type), i64('comm_size', whole(node.bytes ?? 0, where, 'bytes')), i32('comm_src', src), i32('comm_dst', dst), i32('comm_tag', node.tag ?? 0));
      break;
    }
    case 'delay':
      break;
  }
  attr.push(str('silica_category', node.category), str('silica_pass', node.pass), str('silica_stream', node.stream));
  if (node.layer !== undefined) attr.push(i64('silica_layer', node.layer));
  if (node.durationNs !== undefined) attr.push({ name: 'silica_duration_ns', double_val: node.durationNs });
  const obj: Record<string, unknown> = { name: node.name, type, attr };
  if (node.id !== 0) obj.id = node.id;
  if (node.deps.length) obj.data_deps = node.deps;
  // ASTRA-sim replays COMP nodes without a roofline model from duration_micros.
  const micros = node.durationNs !== undefined ? Math.round(node.durationNs / 1000) : 0;
  if (micros > 0) obj.duration_micros = micros;
  return obj;
}

function whole(v: number, where: string, field: string): number {
  if (!Number.isFinite(v) || v < 0) throw new SilicaError(`${where}: ${field}: expected a size >= 0 in bytes, got ${v}`);
  return Math.round(v);
}
