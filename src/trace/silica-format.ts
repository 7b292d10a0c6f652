import type protobuf from 'protobufjs';
import { SilicaError } from '../core/errors.js';
import type { KernelDesc } from '../kernels/desc.js';
import { gzip, joinDelimited, maybeGunzip, splitDelimited } from './framing.js';
import { validateTrace } from './graph.js';
import { checkKernelDesc, checkNodeTaxonomy, nodeWhere, protoKernelField } from './kernel-fields.js';
import { silicaTypes, wireTypeMismatch } from './proto.js';
import { setProgramSource, type Trace, type TraceCollectiveKind, type TraceMeta, type TraceNode } from './types.js';

/**
 * Reader and writer of the silica trace format (schema and documentation: src/trace/silica.proto).
 *
 * The writer emits the canonical form (defaults omitted except for `optional` fields, meta sorted
 * by key), so read-then-write is byte-identical. The reader checks framing, record kinds, node
 * fields and the dependency graph, and reports the first problem as one line naming the file,
 * the message or node, the field and what was expected.
 */
export const SILICA_FORMAT = 'silica-trace';
export const SILICA_VERSION = 1;

const NODE_KINDS: Record<TraceNode['kind'], string> = { kernel: 'KERNEL', collective: 'COLLECTIVE', send: 'SEND', recv: 'RECV', delay: 'DELAY' };
const COLLECTIVE_KINDS: Record<TraceCollectiveKind, string> = {
  'all-reduce': 'ALL_REDUCE',
  'reduce-scatter': 'REDUCE_SCATTER',
  'all-gather': 'ALL_GATHER',
  'all-to-all': 'ALL_TO_ALL',
  broadcast: 'BROADCAST',
  reduce: 'REDUCE',
  gather: 'GATHER',
  scatter: 'SCATTER',
  barrier: 'BARRIER',
  'reduce-scatter-block': 'REDUCE_SCATTER_BLOCK',
};
const invert = <K extends string>(m: Record<K, string>) => new Map(Object.entries(m).map(([k, v]) => [v as string, k as K]));
const NODE_KIND_OF = invert(NODE_KINDS);
const COLLECTIVE_KIND_OF = invert(COLLECTIVE_KINDS);

const TO_OBJECT = { longs: Number, enums: String, defaults: true } as const;

// ---------------------------------------------------------------------------------------------
// Writing

/** Serialises a trace (gzip optional). Deterministic: identical traces give identical bytes. */
export function encodeSilicaTrace(trace: Trace, options: { gzip?: boolean } = {}): Uint8Array {
  const t = silicaTypes();
  const meta = Object.keys(trace.meta)
    .sort()
    .map((key) => metaEntry(key, trace.meta[key]!));
  const header = {
    format: SILICA_FORMAT,
    version: SILICA_VERSION,
    world_size: trace.worldSize,
    program_nodes: trace.programs.map((p) => p.length),
    meta,
  };
  const messages: Uint8Array[] = [encodeRecord(t.record, { header })];
  for (const program of trace.programs) for (const node of program) messages.push(encodeRecord(t.record, { node: nodeMessage(node) }));
  const bytes = joinDelimited(messages);
  return options.gzip ? gzip(bytes) : bytes;
}

function metaEntry(key: string, value: string | number | boolean) {
  if (typeof value === 'string') return { key, string_value: value };
  if (typeof value === 'number') return { key, number_value: value };
  return { key, bool_value: value };
}

function encodeRecord(type: protobuf.Type, obj: Record<string, unknown>): Uint8Array {
  return type.encode(type.fromObject(canonical(type, obj))).finish();
}

/**
 * Drops fields at their proto3 default unless the field tracks presence (`optional` or a oneof
 * member), recursing into sub-messages: the canonical form that makes read-then-write identical.
 */
function canonical(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined || value === null) continue;
    const field = type.fields[key];
    if (!field) throw new Error(`silica.proto: ${type.name} has no field "${key}" (add it to the schema before writing it)`);
    field.resolve();
    if (field.resolvedType && 'fields' in field.resolvedType && !field.repeated) {
      out[key] = canonical(field.resolvedType as protobuf.Type, value as Record<string, unknown>);
      continue;
    }
    if (!field.partOf && !field.repeated && isDefault(value, field)) continue;
    if (field.repeated && Array.isArray(value) && value.length === 0) continue;
    checkScalar(type, key, field, value);
    out[key] = value;
  }
  return out;
}

function isDefault(value: unknown, field: protobuf.Field): boolean {
  if (field.resolvedType) return value === 0 || value === Object.keys((field.resolvedType as protobuf.Enum).values)[0];
  return value === 0 || value === '' || value === false;
}

/** Integer fields silently truncate fractions in protobufjs: refuse instead. */
function checkScalar(type: protobuf.Type, key: string, field: protobuf.Field, value: unknown): void {
  if (!/int|fixed/.test(field.type)) return;
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isInteger(v) || (/^u|fixed/.test(field.type) && v < 0)) {
      throw new SilicaError(`trace writer: ${type.name}.${key}: expected ${/^u/.test(field.type) ? 'a non-negative' : 'a'} whole number (${field.type}), got ${String(v)}`);
    }
  }
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function nodeMessage(node: TraceNode): Record<string, unknown> {
  return {
    id: node.id,
    name: node.name,
    kind: NODE_KINDS[node.kind],
    category: node.category,
    pass: node.pass,
    deps: node.deps,
    stream: node.stream,
    layer: node.layer,
    kernel: node.kernel ? kernelMessage(node.kernel) : undefined,
    collective: node.collective ? { kind: COLLECTIVE_KINDS[node.collective.kind], bytes: node.collective.bytes, group: node.collective.group } : undefined,
    peer: node.peer,
    bytes: node.bytes,
    tag: node.tag,
    duration_ns: node.durationNs,
    device: node.device === 'host' ? 'HOST' : undefined,
  };
}

/** KernelDesc {op, ...fields} -> KernelDesc{<op>: {<snake_case fields>}}; unknown fields are refused. */
function kernelMessage(desc: KernelDesc): Record<string, unknown> {
  const { op, ...fields } = desc as unknown as { op: string } & Record<string, unknown>;
  const field = silicaTypes().kernelDesc.fields[op];
  if (!field) throw new Error(`silica.proto: KernelDesc has no op "${op}" (add a message for it to the schema)`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[snake(k)] = v;
  return { [op]: out };
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * True when the (already gunzipped) bytes are a silica record stream: the first message is a
 * TraceRecord holding a header or a node (a misplaced node, or a header of another format, is then
 * reported by the reader). The record's field numbers (1000, 1001) are no Chakra ET's, so a header
 * record is a silica trace's whatever its `format` says.
 */
export function looksLikeSilicaTrace(raw: Uint8Array): boolean {
  try {
    const [first] = splitFirst(raw);
    if (!first || wireTypeMismatch(silicaTypes().record, first)) return false;
    const rec = silicaTypes().record.decode(first) as unknown as { item?: string; header?: { format?: string } };
    return rec.item === 'header' || rec.item === 'node';
  } catch {
    return false;
  }
}

/** The first length-delimited message only (cheap format sniffing). */
function splitFirst(bytes: Uint8Array): Uint8Array[] {
  let len = 0;
  let shift = 0;
  let pos = 0;
  for (;;) {
    if (pos >= bytes.length || shift > 49) return [];
    const b = bytes[pos++]!;
    len += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return pos + len <= bytes.length ? [bytes.subarray(pos, pos + len)] : [];
}

export function decodeSilicaTrace(input: Uint8Array, file: string): Trace {
  const t = silicaTypes();
  const messages = splitDelimited(maybeGunzip(input, file), file);
  if (messages.length === 0) throw new SilicaError(`${file}: empty file: expected a silica trace (a Header record, then Node records)`, { file });
  const records = messages.map((m, i) => decodeRecord(t.record, m, file, i + 1));
  const first = records[0]!;
  if (first.item !== 'header') {
    throw new SilicaError(`${file}: message 1: expected a silica Header record, got ${first.item ? `a ${first.item} record` : 'a message that is not a silica TraceRecord (not a silica trace?)'}`, { file });
  }
  const header = first.header as { format: string; version: number; world_size: number; program_nodes: number[]; meta: Array<Record<string, unknown>> };
  if (header.format !== SILICA_FORMAT) throw new SilicaError(`${file}: header.format: expected "${SILICA_FORMAT}", got ${JSON.stringify(header.format)}`, { file, field: 'format' });
  if (header.version < 1 || header.version > SILICA_VERSION) {
    throw new SilicaError(`${file}: header.version: expected 1..${SILICA_VERSION} (this silica reads up to version ${SILICA_VERSION}), got ${header.version}`, { file, field: 'version' });
  }
  if (header.world_size < 1) throw new SilicaError(`${file}: header.world_size: expected a positive whole number, got ${header.world_size}`, { file });
  const counts = header.program_nodes;
  if (counts.length !== 1 && counts.length !== header.world_size) {
    throw new SilicaError(`${file}: header.program_nodes: expected 1 entry (SPMD) or world_size = ${header.world_size} entries, got ${counts.length}`, { file });
  }
  const expected = counts.reduce((a, b) => a + b, 0);
  if (records.length - 1 !== expected) {
    const verb = records.length - 1 < expected ? 'truncated' : 'trailing records';
    throw new SilicaError(`${file}: ${verb}: header.program_nodes announces ${expected} nodes, the file has ${records.length - 1}`, { file });
  }
  const meta: TraceMeta = {};
  for (const e of header.meta) {
    const key = e.key as string;
    if (e.string_value !== undefined) meta[key] = e.string_value as string;
    else if (e.number_value !== undefined) meta[key] = e.number_value as number;
    else if (e.bool_value !== undefined) meta[key] = e.bool_value as boolean;
  }
  const programs: TraceNode[][] = [];
  let msg = 1;
  for (const count of counts) {
    const program: TraceNode[] = [];
    for (let i = 0; i < count; i++) {
      const rec = records[msg]!;
      msg++;
      if (rec.item !== 'node') throw new SilicaError(`${file}: message ${msg}: expected a Node record, got ${rec.item ? `a ${rec.item} record` : 'an empty record'}`, { file });
      program.push(nodeFrom(rec.node as Record<string, unknown>, file, msg));
    }
    // One file, several programs: errors about a node name its rank too.
    setProgramSource(program, counts.length === 1 ? file : `${file}: rank ${programs.length}`);
    programs.push(program);
  }
  const trace: Trace = { meta, worldSize: header.world_size, programs };
  validateTrace(trace, file);
  return trace;
}

function decodeRecord(type: protobuf.Type, bytes: Uint8Array, file: string, index: number): Record<string, unknown> {
  let problem = wireTypeMismatch(type, bytes);
  if (!problem) {
    try {
      const m = type.decode(bytes);
      const obj = type.toObject(m, TO_OBJECT);
      obj.item = (m as unknown as { item?: string }).item;
      return obj;
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err);
    }
  }
  throw new SilicaError(`${file}: message ${index}: not a valid silica TraceRecord (${problem})`, { file });
}

function nodeFrom(m: Record<string, unknown>, file: string, msg: number): TraceNode {
  const id = m.id as number;
  const where = `${file}: message ${msg} (node ${id})`;
  const kind = NODE_KIND_OF.get(m.kind as string);
  if (!kind) throw new SilicaError(`${where}: kind: expected one of ${Object.values(NODE_KINDS).join(', ')}, got ${String(m.kind)}`, { file, field: 'kind' });
  const node: TraceNode = {
    id,
    name: m.name as string,
    kind,
    category: m.category as TraceNode['category'],
    pass: m.pass as TraceNode['pass'],
    deps: m.deps as number[],
    stream: m.stream as string,
  };
  if (m.layer !== undefined) node.layer = m.layer as number;
  if (m.kernel) {
    node.kernel = kernelFrom(m.kernel as Record<string, unknown>, where);
    checkKernelDesc(node.kernel, nodeWhere(file, node), protoKernelField, file);
  }
  if (m.collective) {
    const c = m.collective as { kind: string; bytes: number; group: number[] };
    const ck = COLLECTIVE_KIND_OF.get(c.kind);
    if (!ck) throw new SilicaError(`${where}: collective.kind: expected one of ${Object.values(COLLECTIVE_KINDS).join(', ')}, got ${String(c.kind)}`, { file, field: 'collective.kind' });
    node.collective = { kind: ck, bytes: c.bytes, group: c.group };
  }
  if (m.peer !== undefined) node.peer = m.peer as number;
  if (m.bytes !== undefined) node.bytes = m.bytes as number;
  if (m.tag !== undefined) node.tag = m.tag as number;
  if (m.duration_ns !== undefined) node.durationNs = m.duration_ns as number;
  if (m.device === 'HOST') node.device = 'host';
  else if (m.device !== 'GPU') throw new SilicaError(`${where}: device: expected GPU or HOST, got ${String(m.device)}`, { file, field: 'device' });
  checkNodeTaxonomy(node, where, { category: 'category', pass: 'pass' }, file);
  checkNodeFields(node, where);
  return node;
}

function kernelFrom(m: Record<string, unknown>, where: string): KernelDesc {
  const op = Object.keys(m).find((k) => m[k] !== null && m[k] !== undefined);
  if (!op) throw new SilicaError(`${where}: kernel: expected one of ${Object.keys(silicaTypes().kernelDesc.fields).join(', ')}, got an empty KernelDesc`);
  const desc: Record<string, unknown> = { op };
  for (const [k, v] of Object.entries(m[op] as Record<string, unknown>)) desc[camel(k)] = v;
  return desc as unknown as KernelDesc;
}

/** The fields each node kind needs (see silica.proto, Node). */
function checkNodeFields(node: TraceNode, where: string): void {
  const need = (ok: boolean, field: string, expected: string) => {
    if (!ok) throw new SilicaError(`${where}: ${field}: expected ${expected} for a ${NODE_KINDS[node.kind]} node`, { field });
  };
  need(node.stream !== '', 'stream', 'a stream name');
  if (node.durationNs !== undefined) need(Number.isFinite(node.durationNs) && node.durationNs >= 0, 'duration_ns', 'a duration >= 0');
  switch (node.kind) {
    case 'kernel':
      need(node.kernel !== undefined, 'kernel', 'a KernelDesc');
      break;
    case 'collective':
      need(node.collective !== undefined, 'collective', 'a Collective');
      need(Number.isFinite(node.collective!.bytes) && node.collective!.bytes >= 0, 'collective.bytes', 'a size >= 0');
      break;
    case 'send':
    case 'recv':
      need(node.peer !== undefined, 'peer', 'a rank');
      need(node.bytes !== undefined && Number.isFinite(node.bytes) && node.bytes >= 0, 'bytes', 'a size >= 0');
      break;
    case 'delay':
      need(node.durationNs !== undefined && Number.isFinite(node.durationNs) && node.durationNs >= 0, 'duration_ns', 'a duration >= 0');
      break;
  }
}
