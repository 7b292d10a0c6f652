import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { loadSweep } from '../../src/sweep/spec.js';
import { tempDir } from './helpers.js';

const BASE = `base:
  kind: kernels
  hw: mi300x
  figure: false
  hw_overrides: { memory: { hbm: { efficiency: 0.9 } } }
  points:
    - { op: gemm, m: 64, n: 64, k: 512, dtype: bf16 }
`;

describe('an axis written as a range', () => {
  const dir = tempDir('ranges');
  const load = (name: string, axes: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `${BASE}axes:\n${axes}`);
    return loadSweep(file);
  };

  it('gives the values a list would, ends included, and the same points (ids) as that list', () => {
    const ranged = load('ranged', '  points.0.m: { name: m, from: 128, to: 16384, times: 2 }\n  points.0.n: { from: 64, to: 320, step: 64 }\n');
    const listed = load('listed', '  points.0.m: { name: m, values: [128, 256, 512, 1024, 2048, 4096, 8192, 16384] }\n  points.0.n: [64, 128, 192, 256, 320]\n');
    expect(ranged.axes.map((a) => a.values)).toEqual(listed.axes.map((a) => a.values));
    expect(ranged.axes.map((a) => a.column)).toEqual(['m', 'points_0_n']);
    expect(ranged.total).toBe(40);
    expect(ranged.points.map((p) => p.id)).toEqual(listed.points.map((p) => p.id));
  });

  it('stops at the last value not past `to`, and a decimal step gives the decimals written', () => {
    expect(load('short', '  points.0.m: { from: 100, to: 350, step: 100 }\n').axes[0]!.values).toEqual([100, 200, 300]);
    expect(load('one', '  points.0.m: { from: 100, to: 100, step: 7 }\n').axes[0]!.values).toEqual([100]);
    expect(load('geo', '  points.0.m: { from: 3, to: 100, times: 3 }\n').axes[0]!.values).toEqual([3, 9, 27, 81]);
    const efficiency = load('dec', '  hw_overrides.memory.hbm.efficiency: { from: 0.1, to: 0.9, step: 0.1 }\n').axes[0]!.values;
    expect(efficiency).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  });
});
