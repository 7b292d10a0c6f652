import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configsDir } from '../../src/core/paths.js';
import '../../src/study/index.js';
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
    const spec = loadSweep(file, (expanded, total) => heard.push([expanded, total]));
    expect(heard).toEqual([[4096, 5000], [5000, 5000]]);
    expect(spec.points.length).toBe(4999);
  });
});
