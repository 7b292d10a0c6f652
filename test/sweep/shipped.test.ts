import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configsDir } from '../../src/core/paths.js';
import '../../src/study/index.js';
import { shardPoints } from '../../src/sweep/shard.js';
import { loadSweep } from '../../src/sweep/spec.js';
import { tempDir } from './helpers.js';

describe('shipped sweep files', () => {
  const files = readdirSync(configsDir('sweeps')).filter((f) => f.endsWith('.yaml'));
  it('are there', () => expect(files.length).toBeGreaterThan(0));
  // Every point of every shipped sweep resolves to a valid experiment (what --dry-run checks).
  for (const f of files) {
    it(`${f} expands to valid points`, () => {
      const spec = loadSweep(join(configsDir('sweeps'), f));
      expect(spec.points.length).toBeGreaterThan(0);
      expect(new Set(spec.points.map((p) => p.id)).size).toBe(spec.points.length);
    });
  }
});

describe('expanding a large sweep', () => {
  it('reports its progress every 4096 points and at the end, counting points before filtering', () => {
    const dir = tempDir('expand');
    const file = join(dir, 'many.yaml');
    const ms = Array.from({ length: 5000 }, (_, i) => 64 * (i + 1));
    writeFileSync(file, ['base:', '  kind: kernels', '  figure: false', '  points: [{ op: gemm, m: 64, n: 64, k: 64 }]', 'axes:', `  points.0.m: [${ms.join(', ')}]`, 'filters:', '  - exclude: { points.0.m: 128 }', ''].join('\n'));
    const heard: Array<[number, number]> = [];
    const spec = loadSweep(file, { onProgress: (expanded, total) => heard.push([expanded, total]) });
    expect(heard).toEqual([[4096, 5000], [5000, 5000]]);
    expect(spec.points.length).toBe(4999);
  });
});

describe('loading one shard', () => {
  it('keeps exactly the shard of the whole sweep: the same indices, ids, tags and trees, and the whole count', () => {
    const file = join(configsDir('sweeps'), 'gemm-hw.yaml');
    const whole = loadSweep(file);
    expect(whole.total).toBe(whole.points.length);
    for (const shard of [{ index: 0, count: 1 }, { index: 1, count: 4 }, { index: 3, count: 4 }, { index: 5, count: 7 }, { index: 29, count: 30 }]) {
      const part = loadSweep(file, { shard });
      expect(part.total).toBe(whole.total);
      expect(part.expanded).toBe(whole.expanded);
      expect(part.points).toEqual(shardPoints(whole.points, shard));
    }
  });
});

describe('expansion order', () => {
  const load = (lines: string[]) => {
    const file = join(tempDir('order'), 'order.yaml');
    writeFileSync(file, ['base:', '  kind: kernels', '  figure: false', '  points: [{ op: gemm, m: 64, n: 64, k: 64 }]', ...lines, ''].join('\n'));
    return loadSweep(file).points.map((p) => p.tags);
  };

  it('crosses variants (outermost) with a grid of the axes, the last axis varying fastest', () => {
    const axes = ['axes:', '  points.0.m: { name: m, values: [1, 2] }', '  points.0.n: { name: n, values: [10, 20, 30] }'];
    expect(load(axes)).toEqual([1, 2].flatMap((m) => [10, 20, 30].map((n) => ({ m, n }))));
    const variants = ['variants:', '  - { name: a }', '  - { name: b, set: { points.0.k: 128 } }'];
    expect(load([...axes, ...variants])).toEqual(['a', 'b'].flatMap((variant) => [1, 2].flatMap((m) => [10, 20, 30].map((n) => ({ variant, m, n })))));
  });

  it('zips axes value by value', () => {
    expect(load(['expand: zip', 'axes:', '  points.0.m: { name: m, values: [1, 2, 3] }', '  points.0.n: { name: n, values: [10, 20, 30] }'])).toEqual([
      { m: 1, n: 10 },
      { m: 2, n: 20 },
      { m: 3, n: 30 },
    ]);
  });

  it('has one point with no axes', () => {
    expect(load([])).toEqual([{}]);
  });

  it('filters on every kind of condition: a value, a list, min/max, in, and not with a value or a list', () => {
    const axes = ['axes:', '  points.0.m: { name: m, values: [1, 2, 3, 4] }'];
    const kept = (condition: string) => load([...axes, 'filters:', `  - keep: { points.0.m: ${condition} }`]).map((t) => t.m);
    expect(kept('2')).toEqual([2]);
    expect(kept('[1, 3]')).toEqual([1, 3]);
    expect(kept('{ min: 2, max: 3 }')).toEqual([2, 3]);
    expect(kept('{ in: [1, 4], not: 4 }')).toEqual([1]);
    expect(kept('{ not: [1, 2] }')).toEqual([3, 4]);
    expect(kept('{ not: 3 }')).toEqual([1, 2, 4]);
  });
});
