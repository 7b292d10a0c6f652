import { createHash } from 'node:crypto';
import { Document, isMap, isScalar, isSeq } from 'yaml';

/**
 * Canonical JSON (object keys sorted at every level) and the stable point hash built on it. A
 * sweep point is identified by the hash of its resolved config plus its tags, so `--resume` and
 * `silica merge` recognise a point whatever order the workers finished in, on whichever shard.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** 16 hex digits of SHA-256 over the canonical JSON: short enough for a CSV column, ample for sweeps. */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** A copy with no shared sub-objects, so YAML output never uses anchors and aliases. */
export function plainTree<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/**
 * YAML for resolved sweep configs: block style, but lists of plain values on one line
 * (`cus: [ 8, 16, 32 ]`), which keeps hundreds of points readable and the file small.
 */
export function readableYaml(value: unknown): string {
  // The plain copy shares no sub-objects: no anchors to look for (a sweep renders thousands of points).
  const doc = new Document(plainTree(value), { aliasDuplicateObjects: false });
  flowPlainLists(doc.contents);
  return doc.toString({ lineWidth: 0 });
}

/** Puts every list of plain values on one line. */
function flowPlainLists(node: unknown): void {
  if (isSeq(node)) {
    if (node.items.every((item) => isScalar(item))) node.flow = true;
    else for (const item of node.items) flowPlainLists(item);
  } else if (isMap(node)) {
    for (const pair of node.items) flowPlainLists(pair.value);
  }
}
