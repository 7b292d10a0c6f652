/**
 * Sweep benchmark: the same CPU-bound sweep (bench/sweeps/cpu-bound.yaml) run by the CLI with
 * --jobs 1 and --jobs 2, wall clock end to end (process start, worker start-up, writing the tables
 * included). On a 2-core machine with nothing else running, --jobs 2 should be >= 1.7x faster.
 * CPU time (children's, from /proc on Linux) is printed too: when other work shares the cores the
 * wall-clock ratio means little, and CPU(--jobs 2) / CPU(--jobs 1) still shows the pool's overhead.
 * The two output folders must be byte-identical: parallelism never changes results.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { BenchLine } from './core.bench.js';

const here = dirname(fileURLToPath(import.meta.url));
// Works from dist/bench (npm run bench) and from bench/ alike: the repo root holds bench/sweeps.
const root = here.includes(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const SWEEP = join(root, 'bench', 'sweeps', 'cpu-bound.yaml');

/** User + system seconds of this process's waited-for children (Linux /proc; NaN elsewhere). */
function childrenCpuSeconds(): number {
  if (!existsSync('/proc/self/stat')) return NaN;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat(5) (cutime, cstime), counted from after the command name; 100 ticks/s.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

function timeSweep(out: string, jobs: number): { wall: number; cpu: number } {
  const cpu0 = childrenCpuSeconds();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'sweep', SWEEP, '--out', out, '--jobs', String(jobs), '--quiet'], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sweep --jobs ${jobs} failed: ${r.stderr.trim()}`);
  return { wall, cpu: childrenCpuSeconds() - cpu0 };
}

export function run(): BenchLine[] {
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-sweep-'));
  try {
    // Warm the file cache (a dry run reads every module) so neither timed run pays for cold reads.
    spawnSync(process.execPath, [CLI, 'sweep', SWEEP, '--dry-run'], { stdio: 'ignore' });
    const load = loadavg()[0]!;
    // ABBA order, best of two each: on this class of VM the second of two back-to-back runs is
    // measurably slower (seen: 1.36-1.58x in j1-then-j2 order, 1.84x in j2-then-j1 order), so a
    // single pair measures the order as much as the pool.
    const best = (a: { wall: number; cpu: number }, b: { wall: number; cpu: number }) => (a.wall <= b.wall ? a : b);
    const one1 = timeSweep(join(dir, 'j1'), 1);
    const two1 = timeSweep(join(dir, 'j2'), 2);
    const two2 = timeSweep(join(dir, 'j2b'), 2);
    const one2 = timeSweep(join(dir, 'j1b'), 1);
    const one = best(one1, one2);
    const two = best(two1, two2);
    const same = readFileSync(join(dir, 'j1', 'results.csv'), 'utf8') === readFileSync(join(dir, 'j2', 'results.csv'), 'utf8');
    if (!same) throw new Error('sweep --jobs 1 and --jobs 2 wrote different results.csv');
    const points = readFileSync(join(dir, 'j1', 'points.jsonl'), 'utf8').trimEnd().split('\n').length;
    const busy = load > 0.5 ? `; load ${load.toFixed(1)} at start: cores shared, rerun idle` : '';
    return [
      { name: `sweep: ${points}-point CPU-bound sweep, --jobs 1 wall time (best of 2, ABBA order)`, value: one.wall, unit: 's' },
      { name: 'sweep: same sweep, --jobs 2 wall time', value: two.wall, unit: 's' },
      { name: `sweep: --jobs 2 speedup over --jobs 1 (target >= 1.7 on 2 idle cores; ${availableParallelism()} CPUs${busy})`, value: one.wall / two.wall, unit: 'x' },
      { name: 'sweep: --jobs 1 CPU time (user + system)', value: one.cpu, unit: 's' },
      { name: 'sweep: --jobs 2 CPU time (user + system, all threads)', value: two.cpu, unit: 's' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
