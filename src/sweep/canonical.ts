import { createHash } from 'node:crypto';
import { Document, isMap, isScalar, isSeq } from 'yaml';
import { boundedMemo } from '../core/bounded-memo.js';

/**
 * Canonical JSON (object keys sorted at every level) and the stable point hash built on it. A
 * sweep point is identified by the hash of its resolved config plus its tags, so `--resume` and
 * `silica merge` recognise a point whatever order the workers finished in, on whichever shard.
 */
export function canonicalJson(value: unknown): string {
  // JSON.stringify's own contract: undefined (or a function) at the top gives undefined.
  return canonical(value) as string;
}

/**
 * The text JSON.stringify gives for a copy of `value` with every object's keys sorted, written in
 * one pass without making the copy (a million-point sweep hashes every point's config). Keys come
 * in the order such a copy enumerates them: array-index keys ("0", "12") first, ascending, then
 * the rest sorted; undefined and function values are left out of objects and are null in arrays,
 * as JSON.stringify does. The output is what point ids are hashed from: it must never change.
 */
function canonical(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    case 'bigint':
      return JSON.stringify(value); // throws, as JSON.stringify does
    default:
      return undefined;
  }
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i ? ',' : '') + (canonical(value[i]) ?? 'null');
    return text + ']';
  }
  const obj = value as Record<string, unknown>;
  let text = '{';
  for (const key of sortedKeys(obj)) {
    const v = canonical(obj[key]);
    if (v === undefined) continue;
    text += (text.length > 1 ? ',' : '') + quotedKey(key) + v;
  }
  return text + '}';
}

/** `"key":` for a key; the few keys a sweep's configs have are quoted once, not once per point. */
const quotedKey = boundedMemo((key: string) => JSON.stringify(key) + ':');

/** Array-index keys first, in numeric order, then the others in code-unit order. */
function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  const indices = keys.filter(isArrayIndexKey);
  if (indices.length === 0) return keys.sort();
  return [...indices.sort((a, b) => Number(a) - Number(b)), ...keys.filter((k) => !isArrayIndexKey(k)).sort()];
}

/**
 * Keys that JavaScript objects enumerate before all others, in numeric order: array indices
 * ("0", "12"; not "01", "-1" or 2^32 - 1 and above).
 */
export function isArrayIndexKey(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) < 2 ** 32 - 1;
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
