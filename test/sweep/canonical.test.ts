import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { canonicalJson, stableHash } from '../../src/sweep/canonical.js';
import { lookupPath, setPath, splitPath } from '../../src/core/tree.js';

/**
 * Point ids are hashes of canonical JSON, and folders written by earlier versions are resumed and
 * merged by them: canonicalJson must give exactly the text it always gave. The specification is
 * the original implementation: JSON.stringify of a copy with every object's keys sorted.
 */
function specSortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(specSortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = specSortKeys(v);
    }
    return out;
  }
  return value;
}
const spec = (value: unknown) => JSON.stringify(specSortKeys(value));

// Keys that exercise the orderings: array-index keys (enumerated first, numerically), near-misses
// that are not indices ("01", "-1", 2^32 - 1), code-unit order (upper before lower case, non-ASCII
// last), and characters JSON escapes.
const KEYS = ['b', 'a', 'B', 'é', '0', '9', '10', '01', '-1', '4294967295', '4294967294', 'a.b', 'quote"', 'line\n', 'kind', 'hw'];
const LEAVES = [0, -0, 1.5, 1e21, 5e-7, -3, NaN, Infinity, 'mi300x', '', 'ü\u2028', true, false, null, undefined, () => 1];

function randomTree(rng: Rng, depth: number): unknown {
  const pick = rng.uniform();
  if (depth === 0 || pick < 0.3) return LEAVES[rng.int(0, LEAVES.length - 1)];
  if (pick < 0.55) {
    const list: unknown[] = [];
    const n = rng.int(0, 4);
    for (let i = 0; i < n; i++) list.push(randomTree(rng, depth - 1));
    if (rng.uniform() < 0.1) list.length += 2; // holes
    return list;
  }
  const obj: Record<string, unknown> = {};
  const n = rng.int(0, 6);
  for (let i = 0; i < n; i++) obj[KEYS[rng.int(0, KEYS.length - 1)]!] = randomTree(rng, depth - 1);
  return obj;
}

describe('canonicalJson', () => {
  it('gives the text of JSON.stringify over a key-sorted copy, on 5,000 random trees', () => {
    const rng = new Rng(21, 'canonical');
    for (let i = 0; i < 5000; i++) {
      const tree = randomTree(rng, 5);
      expect(canonicalJson(tree), JSON.stringify(specSortKeys(tree))).toBe(spec(tree));
    }
  });

  it('leaves undefined at the top undefined, as JSON.stringify does', () => {
    expect(canonicalJson(undefined)).toBe(spec(undefined));
    expect(canonicalJson({ b: 1, a: undefined, 10: 'x', 9: 'y' })).toBe('{"9":"y","10":"x","b":1}');
  });

  it('keeps the point ids of earlier versions (a hash computed by the original implementation)', () => {
    const point = {
      config: { kind: 'kernels', hw: 'mi300x', points: [{ op: 'gemm', m: 256, dtype: 'bf16' }], hw_overrides: { memory: { hbm: { efficiency: 0.8 } } }, 10: 1, 9: 2 },
      tags: { variant: 'a', m: 256, é: true },
    };
    expect(stableHash(point)).toBe('80f5da3e5bc04a77');
  });
});

describe('dotted paths', () => {
  it('setPath copies the spine and leaves the tree it was given as it was', () => {
    const base = { points: [{ m: 1, n: 2 }], hw: 'mi300x', memory: { hbm: { efficiency: 0.9 } } };
    const before = JSON.stringify(base);
    const set = setPath(setPath(base, 'points.0.m', 8), 'memory.hbm.efficiency', 0.7) as typeof base;
    expect(JSON.stringify(base)).toBe(before);
    expect(set).toEqual({ points: [{ m: 8, n: 2 }], hw: 'mi300x', memory: { hbm: { efficiency: 0.7 } } });
    expect(set.hw).toBe(base.hw);
    expect(Object.keys(set)).toEqual(Object.keys(base));
    expect(lookupPath(set, 'points.0.m')).toEqual({ found: true, value: 8 });
  });

  it('splits a path once and hands the same segments to every caller', () => {
    expect(splitPath('a.b.0')).toEqual(['a', 'b', '0']);
    expect(splitPath('a.b.0')).toBe(splitPath('a.b.0'));
  });
});
