import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { silica, silicaJson } from '../helpers/cli.js';
import { FIXTURES, jsonlRows, read, sortedCsv, tempDir } from './helpers.js';

const SWEEP = join(FIXTURES, 'small.yaml');
const FILES = ['results.csv', 'results.jsonl', 'points.jsonl', 'summary.json', 'config.resolved.yaml'];

describe('silica sweep: one job, two jobs and four merged shards agree', () => {
  const dir = tempDir('equiv');
  const run = (args: string[]) => {
    const r = silica(['sweep', SWEEP, ...args]);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  it('lists the points with --dry-run (grid x variants, minus the filtered pairs)', () => {
    const listing = silicaJson<{ points_total: number; expanded: number; points: Array<Record<string, unknown>> }>(['sweep', SWEEP, '--dry-run']);
    expect(listing.expanded).toBe(12);
    expect(listing.points_total).toBe(10);
    expect(listing.points.map((p) => p.point)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(listing.points.some((p) => p.hw === 'a100-sxm' && p.variant === 'slow-hbm')).toBe(false);
    expect(new Set(listing.points.map((p) => p.point_id)).size).toBe(10);
    const text = silica(['sweep', SWEEP, '--dry-run', '--shard', '1/4']);
    expect(text.stdout).toMatch(/^sweep test-small: 10 points \(2 filtered out of 12\), shard 1\/4: 3$/m);
  });

  it('writes identical tables whatever the parallelism or sharding', () => {
    run(['--out', join(dir, 'j1'), '--jobs', '1']);
    run(['--out', join(dir, 'j2'), '--jobs', '2']);
    for (let i = 0; i < 4; i++) run(['--out', join(dir, `shard-${i}`), '--jobs', '1', '--shard', `${i}/4`]);
    const merged = silicaJson<{ points: number; missing: number }>(['merge', ...[0, 1, 2, 3].map((i) => join(dir, `shard-${i}`)), '--out', join(dir, 'merged')]);
    expect(merged).toMatchObject({ points: 10, missing: 0 });

    // The requirement: identical after sorting ...
    const reference = sortedCsv(join(dir, 'j1', 'results.csv'));
    expect(sortedCsv(join(dir, 'j2', 'results.csv'))).toEqual(reference);
    expect(sortedCsv(join(dir, 'merged', 'results.csv'))).toEqual(reference);
    // ... and in fact byte-identical, because every folder is written sorted by point.
    for (const f of FILES) {
      expect(read(join(dir, 'j2', f)), f).toBe(read(join(dir, 'j1', f)));
      expect(read(join(dir, 'merged', f)), f).toBe(read(join(dir, 'j1', f)));
    }
    const rows = jsonlRows(join(dir, 'j1'));
    expect(rows).toHaveLength(20); // two kernels per point
    expect(rows[0]).toMatchObject({ point: 0, variant: 'nominal', hw: 'mi300x', gemm_m: 1, m: 1 });
    // The slow-hbm variant really reaches the hardware model: the STREAM triad takes longer.
    const triad = (variant: string) => rows.find((r) => r.variant === variant && r.hw === 'mi300x' && r.op === 'stream_triad' && r.gemm_m === 1)!.time_us as number;
    expect(triad('slow-hbm')).toBeGreaterThan(triad('nominal') * 1.4);
    // Shards are disjoint and cover the sweep.
    const shardIds = [0, 1, 2, 3].flatMap((i) => jsonlRows(join(dir, `shard-${i}`)).map((r) => r.point_id));
    expect(new Set(shardIds).size).toBe(10);
    const summary = JSON.parse(readFileSync(join(dir, 'shard-1', 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ sweep: 'test-small', points_total: 10, points: 3, shard: '1/4' });
  });

  it('merges shards whose config.resolved.yaml was saved again in another layout', () => {
    // Items at the list's own indentation: merge cannot cut the file at its items, so it parses it.
    const resaved = [0, 1, 2, 3].map((i) => {
      const copy = join(dir, `resaved-${i}`);
      cpSync(join(dir, `shard-${i}`), copy, { recursive: true });
      const path = join(copy, 'config.resolved.yaml');
      writeFileSync(path, stringify(parse(read(path)), { indentSeq: false }));
      return copy;
    });
    expect(read(join(resaved[0]!, 'config.resolved.yaml'))).toMatch(/^points:\n- point: 0\n/m);
    silicaJson(['merge', ...resaved, '--out', join(dir, 'merged-resaved')]);
    for (const f of FILES) expect(read(join(dir, 'merged-resaved', f)), f).toBe(read(join(dir, 'j1', f)));
  });

  it('merges inputs that overlap when their rows agree, and refuses them when they do not', () => {
    // j1 and j2 (from the test above) both hold every point.
    const both = silicaJson<{ points: number; missing: number }>(['merge', join(dir, 'j1'), join(dir, 'j2'), '--out', join(dir, 'both')]);
    expect(both).toMatchObject({ points: 10, missing: 0 });
    for (const f of ['results.csv', 'results.jsonl', 'points.jsonl']) expect(read(join(dir, 'both', f)), f).toBe(read(join(dir, 'j1', f)));
    // A copy of j2 whose point 3 says something else.
    const other = join(dir, 'j2-changed');
    cpSync(join(dir, 'j2'), other, { recursive: true });
    const path = join(other, 'results.jsonl');
    const lines = read(path).split('\n');
    const at = lines.findIndex((l) => l.startsWith('{"point":3,'));
    lines[at] = lines[at]!.replace(/"time_us":[0-9.e+-]+/, '"time_us":1');
    writeFileSync(path, lines.join('\n'));
    const r = silica(['merge', join(dir, 'j1'), other, '--out', join(dir, 'conflict')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/j2-changed: point 3 \(id [0-9a-f]+\) has rows that differ from .*j1/);
    expect(existsSync(join(dir, 'conflict'))).toBe(false);
  });

  it('re-running with --resume runs nothing and changes nothing', () => {
    const before = FILES.map((f) => read(join(dir, 'j1', f)));
    const r = silicaJson<{ ran: number; skipped: number }>(['sweep', SWEEP, '--out', join(dir, 'j1'), '--jobs', '1', '--resume']);
    expect(r).toMatchObject({ ran: 0, skipped: 10 });
    expect(FILES.map((f) => read(join(dir, 'j1', f)))).toEqual(before);
  });

  it('writes a Slurm array script whose tasks run the shards', () => {
    const r = silicaJson<{ script: string; shards: number }>(['sweep', SWEEP, '--emit-slurm', '--shards', '3', '--out', join(dir, 'slurm')]);
    const script = read(r.script);
    expect(script).toMatch(/^#!\/bin\/bash\n/);
    expect(script).toMatch(/^#SBATCH --array=0-2$/m);
    expect(script).toContain('--shard "$SHARD/3"');
    expect(script).toContain('--resume');
  });

  it('says so when some of the Slurm tasks would have no point', () => {
    const r = silica(['sweep', SWEEP, '--emit-slurm', '--shards', '12', '--out', join(dir, 'slurm-wide')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/note: --shards 12 over 10 points: 2 tasks will have no point to run; --shards 10 gives each task one/);
    expect(silica(['sweep', SWEEP, '--emit-slurm', '--shards', '10', '--out', join(dir, 'slurm-even')]).stderr).toBe('');
  });
});

describe('silica sweep: every experiment kind gives the same tables on one job and on two', () => {
  const dir = tempDir('equiv-kinds');

  it('kernels, bert, t3 and serve points (a suite) come out byte-identical', () => {
    // Four points: on two lanes each lane runs some of them after others, so a statistic of what the
    // process had cached from earlier points (the serving cost model's memo) would show up here.
    const sweep = join(FIXTURES, 'every-kind.yaml');
    for (const jobs of ['1', '2']) {
      const r = silica(['sweep', sweep, '--out', join(dir, `j${jobs}`), '--jobs', jobs, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const f of FILES) expect(read(join(dir, 'j2', f)), f).toBe(read(join(dir, 'j1', f)));
    const rows = jsonlRows(join(dir, 'j1'));
    expect(new Set(rows.map((r) => r.experiment))).toEqual(new Set(['kernels', 'bert', 't3', 'serve']));
    expect(new Set(rows.map((r) => r.point))).toEqual(new Set([0, 1, 2, 3]));
  });
});
