import { describe, flagAsField, SilicaError } from '../core/errors.js';
import { DTYPES } from '../hw/config/schema.js';
import type { KernelDesc } from '../kernels/desc.js';
import { OP_CATEGORIES, PASSES } from '../kernels/types.js';
import type { TraceNode } from './types.js';

/**
 * Checks of what a trace says about its kernels, and trace context for errors raised while
 * costing them: a kernel description read from a file is bad input until its numbers are known
 * to be sizes and counts (a negative or NaN element count would otherwise reach the cost models
 * and the simulator, which trust them).
 */
type Rule = 'count1' | 'count0' | 'size0' | 'positive' | 'dtype' | 'category';

/** Per op: each field's rule; `?` marks a field that may be absent. */
const RULES: Record<KernelDesc['op'], Record<string, Rule>> = {
  gemm: { m: 'count1', n: 'count1', k: 'count1', 'batch?': 'count1', dtype: 'dtype', 'outDtype?': 'dtype', 'category?': 'category' },
  elementwise: {
    elements: 'count1',
    inputs: 'count0',
    outputs: 'count0',
    flopsPerElement: 'size0',
    'transcendentalsPerElement?': 'size0',
    'extraReadBytes?': 'size0',
    'extraWriteBytes?': 'size0',
    'bytesPerElement?': 'positive',
    dtype: 'dtype',
    'category?': 'category',
  },
  reduction: { rows: 'count1', cols: 'count1', dtype: 'dtype' },
  attention: { batch: 'count1', heads: 'count1', kvHeads: 'count1', qLen: 'count1', kvLen: 'count1', headDim: 'count1', dtype: 'dtype' },
  memcpy: { bytes: 'size0', 'category?': 'category' },
  generic: { flops: 'size0', bytesRead: 'size0', bytesWritten: 'size0', dtype: 'dtype', 'category?': 'category' },
};

const EXPECTED: Record<Rule, string> = {
  count1: 'a whole number >= 1',
  count0: 'a whole number >= 0',
  size0: 'a finite number >= 0',
  positive: 'a finite number > 0',
  dtype: `one of ${DTYPES.join(', ')}`,
  category: `one of ${OP_CATEGORIES.join(', ')}`,
};

const REDUCTION_KINDS = ['softmax', 'layernorm', 'rmsnorm'];

function ok(rule: Rule, v: unknown): boolean {
  if (rule === 'dtype') return typeof v === 'string' && (DTYPES as readonly string[]).includes(v);
  if (rule === 'category') return typeof v === 'string' && (OP_CATEGORIES as readonly string[]).includes(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  switch (rule) {
    case 'count1':
      return Number.isSafeInteger(v) && v >= 1;
    case 'count0':
      return Number.isSafeInteger(v) && v >= 0;
    case 'size0':
      return v >= 0;
    case 'positive':
      return v > 0;
  }
}

/**
 * Throws a one-line SilicaError `WHERE: FIELD: expected ..., got ...` for the first kernel field
 * that is not what the cost models need. `field` names a KernelDesc field as the file spells it
 * (silica.proto: `kernel.flops_per_element`; a Chakra silica_kernel attribute: its JSON key).
 */
export function checkKernelDesc(desc: KernelDesc, where: string, field: (key: string) => string, file?: string): void {
  const rules = RULES[desc.op];
  if (!rules) return; // an unknown op is reported by whoever reads the op
  const d = desc as unknown as Record<string, unknown>;
  for (const [spec, rule] of Object.entries(rules)) {
    const optional = spec.endsWith('?');
    const key = optional ? spec.slice(0, -1) : spec;
    const v = d[key];
    if (optional && v === undefined) continue;
    if (!ok(rule, v)) {
      throw new SilicaError(`${where}: ${field(key)}: expected ${EXPECTED[rule]}, got ${v === undefined ? 'nothing' : describe(v)}`, { file, field: field(key) });
    }
  }
  if (desc.op === 'reduction' && !REDUCTION_KINDS.includes(desc.kind)) {
    throw new SilicaError(`${where}: ${field('kind')}: expected one of ${REDUCTION_KINDS.join(', ')}, got ${describe(desc.kind)}`, { file, field: field('kind') });
  }
  if (desc.op === 'attention') checkAttentionShape(desc, where, field, file);
}

/**
 * Fields of fused attention that are sound one by one but not together: key/value heads are
 * shared by equal groups of query heads (MHA, GQA, MQA), and a causal query attends to keys up to
 * its own position, so there are at least as many keys as queries (the cost model counts the
 * attended pairs from that triangle).
 */
function checkAttentionShape(a: Extract<KernelDesc, { op: 'attention' }>, where: string, field: (key: string) => string, file?: string): void {
  const refuse = (key: string, expected: string, got: number) => {
    throw new SilicaError(`${where}: ${field(key)}: expected ${expected}, got ${got}`, { file, field: field(key) });
  };
  if (a.heads % a.kvHeads !== 0) refuse('kvHeads', `a divisor of ${field('heads')} (${a.heads}): query heads share key/value heads in equal groups`, a.kvHeads);
  if (a.causal && a.qLen > a.kvLen) refuse('qLen', `at most ${field('kvLen')} (${a.kvLen}) in causal attention (the keys include the queries' own)`, a.qLen);
}

/**
 * A node's op category and pass as a trace states them: breakdowns sum time by category and pass,
 * so a name outside the taxonomy (a typo, `GEMM`, `backward`) would quietly become a bucket of its
 * own and drop out of every figure that reads the known ones. `fields` names them as the file spells them.
 */
export function checkNodeTaxonomy(node: Pick<TraceNode, 'category' | 'pass'>, where: string, fields: { category: string; pass: string }, file?: string): void {
  const refuse = (field: string, expected: readonly string[], got: unknown) => {
    throw new SilicaError(`${where}: ${field}: expected one of ${expected.join(', ')}, got ${got === undefined ? 'nothing' : describe(got)}`, { file, field });
  };
  if (!(OP_CATEGORIES as readonly string[]).includes(node.category)) refuse(fields.category, OP_CATEGORIES, node.category);
  if (!(PASSES as readonly string[]).includes(node.pass)) refuse(fields.pass, PASSES, node.pass);
}

/** silica.proto spelling of a KernelDesc field: `kernel.<snake_case>`. */
export const protoKernelField = (key: string): string => `kernel.${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;

/** `FILE: node ID "name"`, the prefix of errors about one node. */
export const nodeWhere = (file: string, node: Pick<TraceNode, 'id' | 'name'>): string => `${file}: node ${node.id} "${node.name}"`;

/**
 * Re-throws a SilicaError raised while costing a node's kernel with the trace file and node in
 * front, and a CLI flag in it (`gemm --m`, as the kernel models name their inputs) turned into the
 * trace field (`kernel.m`). Anything else (a bug) passes through unchanged.
 */
export function inNode(err: unknown, file: string, node: Pick<TraceNode, 'id' | 'name'>): unknown {
  if (!(err instanceof SilicaError)) return err;
  const message = flagAsField(err.message, (field) => `kernel.${field}`).replace(/^dtype: /, 'kernel.dtype: ');
  return new SilicaError(`${nodeWhere(file, node)}: ${message}`, { file, field: err.where?.field });
}
