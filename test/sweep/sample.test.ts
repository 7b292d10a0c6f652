import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import '../../src/study/index.js';
import { mergeSweepDirs } from '../../src/sweep/merge.js';
import { runSweep } from '../../src/sweep/run-sweep.js';
import { loadSweep, samplePositions } from '../../src/sweep/spec.js';
import { silica } from '../helpers/cli.js';
import { sortedCsv, tempDir } from './helpers.js';

/** A 4 x 4 x 2 = 32-point grid of single GEMMs, less the 4 points with m=64 and n=64 and fp8 gone. */
const GRID = `base:
  kind: kernels
  hw: mi300x
  figure: false
  points:
    - { op: gemm, m: 64, n: 64, k: 512, dtype: bf16 }
axes:
  points.0.m: [64, 128, 256, 512]
  points.0.n: [64, 128, 256, 512]
  points.0.dtype: [bf16, fp8]
filters:
  - exclude: { points.0.n: 64, points.0.dtype: fp8 }
`;

describe('sample: a seeded random subset of the points the filters keep', () => {
  const dir = tempDir('sample');
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const whole = loadSweep(write('whole.yaml', GRID));
  const idsOfWhole = new Map(whole.points.map((p) => [p.id, p.index]));

  it('draws exactly that many distinct points of the whole sweep, in its order, numbered from 0', () => {
    expect(whole.total).toBe(28);
    const s = loadSweep(write('s7.yaml', `${GRID}sample: { points: 9, seed: 7 }\n`));
    expect(s.total).toBe(9);
    expect(s.sampledFrom).toBe(28);
    expect(s.expanded).toBe(32);
    expect(s.points.map((p) => p.index)).toEqual([...Array(9).keys()]);
    // A sampled point is the same point as in the whole sweep (same config, tags and id) ...
    const positions = s.points.map((p) => idsOfWhole.get(p.id));
    expect(positions.every((i) => i !== undefined)).toBe(true);
    // ... distinct, and in the whole sweep's order; none of them a filtered-out combination.
    expect(new Set(positions).size).toBe(9);
    expect([...positions].sort((a, b) => a! - b!)).toEqual(positions);
    expect(s.points.some((p) => p.tags.points_0_n === 64 && p.tags.points_0_dtype === 'fp8')).toBe(false);
  });

  it('is the same subset for the same seed, another for another seed; the whole sweep when it asks for every point', () => {
    const ids = (seed: number, points = 9) => loadSweep(write(`s-${seed}-${points}.yaml`, `${GRID}sample: { points: ${points}, seed: ${seed} }\n`)).points.map((p) => p.id);
    expect(ids(7)).toEqual(ids(7));
    expect(ids(8)).not.toEqual(ids(7));
    expect(ids(3, 28)).toEqual(whole.points.map((p) => p.id));
  });

  it('--dry-run says what the sample was drawn from', () => {
    const file = write('dry.yaml', `${GRID}sample: { points: 9, seed: 7 }\n`);
    const r = silica(['sweep', file, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('sweep dry: 9 points (sampled from 28, seed 7; 4 filtered out of 32)');
    const json = JSON.parse(silica(['sweep', file, '--dry-run', '--json']).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ points_total: 9, expanded: 32, sample: { points: 9, seed: 7 }, sampled_from: 28 });
  });

  it('shards split the sample: their points together are the sample, each once', () => {
    const file = write('sharded.yaml', `${GRID}sample: { points: 11, seed: 5 }\n`);
    const all = loadSweep(file).points.map((p) => `${p.index}:${p.id}`);
    const shards = [0, 1, 2].flatMap((index) => loadSweep(file, { shard: { index, count: 3 } }).points.map((p) => `${p.index}:${p.id}`));
    expect(shards.sort()).toEqual([...all].sort());
  });

  it('picks every position with the same probability (Floyd: k of n, 6000 seeds)', () => {
    const n = 10;
    const k = 3;
    const seeds = 6000;
    const hits = new Array<number>(n).fill(0);
    for (let seed = 0; seed < seeds; seed++) {
      const chosen = samplePositions(n, k, seed);
      expect(chosen.size).toBe(k);
      for (const i of chosen) {
        expect(i).toBeGreaterThanOrEqual(0);
        expect(i).toBeLessThan(n);
        hits[i]!++;
      }
    }
    // Each count is binomial(6000, 0.3): mean 1800, sd 35.5; 5 sd either side.
    for (const h of hits) expect(Math.abs(h - (seeds * k) / n)).toBeLessThan(5 * Math.sqrt(seeds * 0.3 * 0.7));
  });

  it('shards of one sample merge into the sample run whole; shards of different seeds do not merge', async () => {
    const file = write('run.yaml', `${GRID}sample: { points: 6, seed: 11 }\n`);
    const run = (out: string, shard?: { index: number; count: number }) => runSweep(loadSweep(file, { shard }), { out: join(dir, out), jobs: 1, resume: false, shard, quiet: true });
    await run('whole-run');
    await run('shard0', { index: 0, count: 2 });
    await run('shard1', { index: 1, count: 2 });
    mergeSweepDirs([join(dir, 'shard0'), join(dir, 'shard1')], join(dir, 'merged'));
    expect(sortedCsv(join(dir, 'merged', 'results.csv'))).toEqual(sortedCsv(join(dir, 'whole-run', 'results.csv')));
    expect(sortedCsv(join(dir, 'merged', 'results.csv'))).toHaveLength(7);

    writeFileSync(file, `${GRID}sample: { points: 6, seed: 12 }\n`);
    await run('other-seed1', { index: 1, count: 2 });
    let message = '';
    try {
      mergeSweepDirs([join(dir, 'shard0'), join(dir, 'other-seed1')], join(dir, 'mixed'));
    } catch (err) {
      expect(err).toBeInstanceOf(SilicaError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/other-seed1: its sweep's sample differs from .*shard0's/);
  });
});
