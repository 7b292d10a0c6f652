/**
 * Sweep benchmark: the same CPU-bound sweep (bench/sweeps/cpu-bound.yaml) run by the CLI with
 * --jobs 1 and --jobs 2, wall clock end to end (process start, worker start-up, writing the tables
 * included). On a 2-core machine with nothing else running, --jobs 2 should be >= 1.7x faster.
 * The two output folders must also be byte-identical: parallelism never changes results.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { BenchLine } from './core.bench.js';

const here = dirname(fileURLToPath(import.meta.url));
// Works from dist/bench (npm run bench) and from bench/ alike: the repo root holds bench/sweeps.
const root = here.includes(`${join('dist', 'bench')}`) ? join(here, '..', '..') : join(here, '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const SWEEP = join(root, 'bench', 'sweeps', 'cpu-bound.yaml');

function timeSweep(out: string, jobs: number): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'sweep', SWEEP, '--out', out, '--jobs', String(jobs), '--quiet'], { encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sweep --jobs ${jobs} failed: ${r.stderr.trim()}`);
  return s;
}

export function run(): BenchLine[] {
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-sweep-'));
  try {
    const load = loadavg()[0]!;
    // Warm the file cache once so neither timed run pays for cold module reads.
    timeSweep(join(dir, 'warm'), 2);
    const one = timeSweep(join(dir, 'j1'), 1);
    const two = timeSweep(join(dir, 'j2'), 2);
    const same = readFileSync(join(dir, 'j1', 'results.csv'), 'utf8') === readFileSync(join(dir, 'j2', 'results.csv'), 'utf8');
    if (!same) throw new Error('sweep --jobs 1 and --jobs 2 wrote different results.csv');
    const points = readFileSync(join(dir, 'j1', 'points.jsonl'), 'utf8').trimEnd().split('\n').length;
    return [
      { name: `sweep: ${points}-point CPU-bound sweep, --jobs 1 wall time`, value: one, unit: 's' },
      { name: `sweep: same sweep, --jobs 2 wall time`, value: two, unit: 's' },
      { name: `sweep: --jobs 2 speedup over --jobs 1 (target >= 1.7 on 2 idle cores; ${availableParallelism()} CPUs, load ${load.toFixed(1)} at start)`, value: one / two, unit: 'x' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
