import type protobuf from 'protobufjs';
import { SilicaError } from '../../core/errors.js';
import { maybeGunzip, splitDelimited } from '../framing.js';
import { chakraTypes, toNumber, wireTypeMismatch } from '../proto.js';

/**
 * Raw decoding of one Chakra ET file (one rank) into plain objects, before any interpretation:
 * what inspect reports and what the converter (convert.ts) turns into a silica Trace.
 *
 * proto3 leaves default values off the wire, so a missing id is 0 and a missing duration is 0;
 * an attribute's value sits in a oneof, so its presence is kept and any of its types may occur.
 */
export const NODE_TYPE_NAMES = ['INVALID_NODE', 'METADATA_NODE', 'MEM_LOAD_NODE', 'MEM_STORE_NODE', 'COMP_NODE', 'COMM_SEND_NODE', 'COMM_RECV_NODE', 'COMM_COLL_NODE'] as const;
export const NodeType = { INVALID: 0, METADATA: 1, MEM_LOAD: 2, MEM_STORE: 3, COMP: 4, SEND: 5, RECV: 6, COLL: 7 } as const;
export const COMM_TYPE_NAMES = ['ALL_REDUCE', 'REDUCE', 'ALL_GATHER', 'GATHER', 'SCATTER', 'BROADCAST', 'ALL_TO_ALL', 'REDUCE_SCATTER', 'REDUCE_SCATTER_BLOCK', 'BARRIER'] as const;

export type ChakraAttrValue = number | string | boolean | Uint8Array | Array<number | string | boolean | Uint8Array>;

export interface ChakraNode {
  id: number;
  name: string;
  type: number;
  ctrlDeps: number[];
  dataDeps: number[];
  startTimeMicros: number;
  durationMicros: number;
  attrs: Map<string, ChakraAttrValue>;
}

export interface ChakraEtFile {
  path: string;
  rank: number;
  bytes: number;
  version: string;
  metadata: Map<string, ChakraAttrValue>;
  nodes: ChakraNode[];
}

export function decodeChakraEt(input: Uint8Array, path: string, rank: number): ChakraEtFile {
  const t = chakraTypes();
  const messages = splitDelimited(maybeGunzip(input, path), path);
  if (messages.length === 0) throw new SilicaError(`${path}: empty file: expected a Chakra ET (GlobalMetadata, then Node messages)`, { file: path });
  const meta = decode(t.metadata, messages[0]!, path, 1, 'GlobalMetadata') as unknown as { version: string; attr: RawAttr[] };
  if (looksLikeNode(meta)) {
    throw new SilicaError(`${path}: message 1: expected a Chakra GlobalMetadata (version or attr), got a message with neither (not a Chakra ET, or an old ET without metadata)`, { file: path });
  }
  const nodes: ChakraNode[] = new Array(messages.length - 1);
  for (let i = 1; i < messages.length; i++) {
    const m = decode(t.node, messages[i]!, path, i + 1, 'Node') as unknown as RawNode;
    if (m.type > 7 || m.type < 0) throw new SilicaError(`${path}: message ${i + 1} (node ${toNumber(m.id)}): type: expected a NodeType 0..7, got ${m.type}`, { file: path, field: 'type' });
    nodes[i - 1] = {
      id: toNumber(m.id),
      name: m.name,
      type: m.type,
      ctrlDeps: m.ctrl_deps.map(toNumber),
      dataDeps: m.data_deps.map(toNumber),
      startTimeMicros: toNumber(m.start_time_micros),
      durationMicros: toNumber(m.duration_micros),
      attrs: attrMap(m.attr),
    };
  }
  return { path, rank, bytes: input.length, version: meta.version, metadata: attrMap(meta.attr), nodes };
}

interface RawAttr {
  name: string;
  value?: string;
  [k: string]: unknown;
}
interface RawNode {
  id: unknown;
  name: string;
  type: number;
  ctrl_deps: unknown[];
  data_deps: unknown[];
  start_time_micros: unknown;
  duration_micros: unknown;
  attr: RawAttr[];
}

function decode(type: protobuf.Type, bytes: Uint8Array, path: string, index: number, what: string): protobuf.Message {
  let problem = wireTypeMismatch(type, bytes);
  if (!problem) {
    try {
      return type.decode(bytes);
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err);
    }
  }
  throw new SilicaError(`${path}: message ${index}: not a valid Chakra ${what} (${problem})`, { file: path });
}

/** A Node read as GlobalMetadata shows as unknown fields only; a real metadata has version or attrs. */
function looksLikeNode(meta: { version: string; attr: RawAttr[] }): boolean {
  return meta.version === '' && meta.attr.length === 0;
}

function attrMap(attrs: RawAttr[]): Map<string, ChakraAttrValue> {
  const out = new Map<string, ChakraAttrValue>();
  for (const a of attrs) {
    const which = a.value;
    if (!which) continue;
    const v = a[which];
    if (which.endsWith('_list')) {
      const values = ((v as { values?: unknown[] }).values ?? []) as unknown[];
      out.set(a.name, values.map(scalar));
    } else out.set(a.name, scalar(v));
  }
  return out;
}

function scalar(v: unknown): number | string | boolean | Uint8Array {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v instanceof Uint8Array) return v;
  return toNumber(v);
}

/** A numeric attribute whatever integer/float/bool type the generator used; undefined when absent. */
export function numAttr(node: ChakraNode, name: string, path: string): number | undefined {
  const v = node.attrs.get(name);
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new SilicaError(`${path}: node ${node.id} "${node.name}": attr ${name}: expected a number (int32/int64/uint64/... value), got ${Array.isArray(v) ? 'a list' : typeof v}`, { file: path, field: name });
}

export function boolAttr(node: ChakraNode, name: string, path: string): boolean | undefined {
  const v = node.attrs.get(name);
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  throw new SilicaError(`${path}: node ${node.id} "${node.name}": attr ${name}: expected a bool, got ${Array.isArray(v) ? 'a list' : typeof v}`, { file: path, field: name });
}

export function strAttr(node: ChakraNode, name: string): string | undefined {
  const v = node.attrs.get(name);
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : String(v);
}
