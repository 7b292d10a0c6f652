/**
 * Sweep benchmark: the same CPU-bound sweep (bench/sweeps/cpu-bound.yaml) run by the CLI with
 * --jobs 1 and --jobs 2, wall clock end to end (process start, worker start-up, writing the tables
 * included). On a 2-core machine with nothing else running, --jobs 2 should be >= 1.7x faster.
 *
 * Virtual machines of this class change speed by 10-30% over tens of seconds (the same run's CPU
 * time moves with it), so one pair of runs measures the host as much as the pool: the runs
 * alternate (1, 2, 2, 1, 1, 2, ...) and the speedup reported is the median of the adjacent pairs'
 * ratios, with the lowest and highest pair beside it. CPU time (children's, from /proc on Linux)
 * is printed too: CPU(--jobs 2) / CPU(--jobs 1) shows the pool's own overhead whatever the host
 * does. The last line runs two --jobs 1 processes side by side: the same work on both cores with
 * no pool, a reference for how much the host's two cores give this workload at that moment (not a
 * bound: two processes pay for two V8 platforms and two heaps, so a pool's threads can beat it).
 * Beside it, a loop of pure arithmetic run the same way says whether the cores themselves are both
 * there (2.0x) or whether only what they share (caches, memory) holds the sweep back.
 *
 * A ceiling follows from --jobs 1's own CPU time. Alone, a --jobs 1 run keeps more than one core
 * busy: V8 compiles hot functions with its optimizing compiler on background threads, about a
 * second of CPU a run on this code base (per-thread CPU from /proc/PID/task: the four V8 platform
 * threads took 0.2-0.35 s each, and ~0.03 s each with --no-concurrent-recompilation, their time
 * moving onto the main thread), and that runs on the second core for free. --jobs 2 does the same
 * work plus a second isolate's module loading and compiling, so its CPU time is at least --jobs
 * 1's, and two cores finish it in no less than half of that: speedup <= 2 x wall / CPU of --jobs
 * 1. Measured 1.70-1.77x on this VM: a perfect pool would only just reach 1.7x. Two whole processes
 * side by side approach that ceiling; a pool does not, because the start (process, modules,
 * expansion: the dry run's fixed cost S) is serial: the bound with the serial start,
 * W1 / (S + (W1 - S) x c / 2) with c = CPU / wall of --jobs 1, read 1.55x (1024 points) and 1.66x
 * (2048) in session 33's first run (docs/sweep-benchmark.md, "What bounds the speedup on this host").
 * The output folders must be byte-identical: parallelism never changes results.
 *
 * The same sweep with twice the points (bench/sweeps/cpu-bound-large.yaml, 2048) is timed the same
 * way: since GEMM tile choices are remembered (session 17) a point costs ~9 ms instead of ~15, and
 * the fixed second of start-up weighs more in the 1024-point run than it did when that sweep was
 * sized; the larger one restores that share, the smaller one keeps the record comparable.
 *
 * A small sweep shows the other end: configs/sweeps/t3-sensitivity.yaml, ten T3 points
 * of 0.2-0.7 s each. There a worker's start-up (modules, then a cold JIT on its first point) is a
 * large share of the whole run, so --jobs 2 gains much less; the line says how much.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { percentile } from '../src/sw/serving/metrics.js';
import type { BenchLine } from './core.bench.js';
import { readSweepRecord, summariseRecord, TARGET_SPEEDUP } from './record.js';

const here = dirname(fileURLToPath(import.meta.url));
// Works from dist/bench (npm run bench) and from bench/ alike: the repo root holds bench/sweeps.
const root = here.includes(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const CLI = join(root, 'dist', 'bundle', 'main.js');
const SWEEP = join(root, 'bench', 'sweeps', 'cpu-bound.yaml');
const LARGE_SWEEP = join(root, 'bench', 'sweeps', 'cpu-bound-large.yaml');
const SMALL_SWEEP = join(root, 'configs', 'sweeps', 't3-sensitivity.yaml');
const RECORD = join(root, 'bench', 'records', 'sweep-speedup.csv');

/** The CLI arguments of one timed run of a sweep (the bench sweep unless named). */
const sweepArgs = (out: string, jobs: number, sweep = SWEEP): string[] => [CLI, 'sweep', sweep, '--out', out, '--jobs', String(jobs), '--quiet'];

/** Fraction of all CPUs idle over the next `ms` milliseconds (Linux /proc/stat; NaN elsewhere). */
function idleFraction(ms: number): number {
  if (!existsSync('/proc/stat')) return NaN;
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const b = sample();
  return (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

/** User + system seconds of this process's waited-for children (Linux /proc; NaN elsewhere). */
function childrenCpuSeconds(): number {
  if (!existsSync('/proc/self/stat')) return NaN;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat(5) (cutime, cstime), counted from after the command name; 100 ticks/s.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** One timed run: wall-clock and CPU seconds (user + system, all threads). */
type Run = { wall: number; cpu: number };

function timeSweep(out: string, jobs: number, sweep = SWEEP): Run {
  const cpu0 = childrenCpuSeconds();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, sweepArgs(out, jobs, sweep), { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sweep --jobs ${jobs} failed: ${r.stderr.trim()}`);
  return { wall, cpu: childrenCpuSeconds() - cpu0 };
}

/**
 * Two independent --jobs 1 runs side by side, as two processes: no pool, nothing shared but the
 * host. Their combined throughput over one run alone is what the host's two cores give this
 * workload right now (cores that slow each other down through shared caches, memory or the
 * hypervisor keep it below 2x). Returns the wall time until both finished.
 */
async function timeTwoProcesses(outA: string, outB: string): Promise<number> {
  const t0 = performance.now();
  const one = (out: string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, sweepArgs(out, 1), { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sweep --jobs 1 (side by side) exited with ${code}`))));
    });
  await Promise.all([one(outA), one(outB)]);
  return (performance.now() - t0) / 1000;
}

/**
 * Pure arithmetic, one process alone and then two side by side: a loop over a few registers that
 * allocates nothing and touches no memory to speak of. On this class of VM it runs 2.0x with two
 * processes whenever the host lends both cores, while the sweep's own two-process reference moves
 * between 1.2x and 2.0x: what the two cores share beyond their pipelines (caches, memory, the
 * hypervisor's neighbours) is what a CPU-bound sweep's lanes lose, not the cores themselves.
 * Returns the two-process throughput over one alone.
 */
const ARITHMETIC = 'let x = 0; for (let i = 0; i < 1e8; i++) x = (x * 1.0000001 + i) % 1e9; if (x < 0) console.log(x);';

async function arithmeticReference(): Promise<{ alone: number; two: number }> {
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', ARITHMETIC], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`arithmetic reference exited with ${code}`))));
    });
  let t0 = performance.now();
  await once();
  const alone = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await Promise.all([once(), once()]);
  return { alone, two: (performance.now() - t0) / 1000 };
}

const PAIRS = 3;

/**
 * PAIRS pairs of --jobs 1 and --jobs 2 runs of a sweep, in folders `${tag}${i}-j1` and `-j2`. The
 * run that goes first alternates (ABBA...), so a host slowing down or speeding up favours neither.
 */
function alternatingPairs(dir: string, tag: string, sweep = SWEEP): Array<{ one: Run; two: Run }> {
  const pairs: Array<{ one: Run; two: Run }> = [];
  for (let i = 0; i < PAIRS; i++) {
    const first = i % 2 === 0 ? 1 : 2;
    const a = timeSweep(join(dir, `${tag}${i}-j${first}`), first, sweep);
    const b = timeSweep(join(dir, `${tag}${i}-j${3 - first}`), 3 - first, sweep);
    pairs.push(first === 1 ? { one: a, two: b } : { one: b, two: a });
  }
  return pairs;
}

/** Where this run stands: the recorded runs so far (bench/records/sweep-speedup.csv) of one sweep. */
function recordLine(sweepPoints: number): BenchLine {
  const r = summariseRecord(readSweepRecord(RECORD), sweepPoints);
  return {
    name: `sweep: recorded runs of the ${sweepPoints}-point sweep reaching ${TARGET_SPEEDUP}x, of ${r.runs} (bench/records/sweep-speedup.csv; median ${r.median.toFixed(3)}x, range ${r.min.toFixed(2)}-${r.max.toFixed(2)}x)`,
    value: r.reaching,
    unit: 'runs',
  };
}

const median = (xs: number[]): number => percentile(Float64Array.from(xs).sort(), 50);

/**
 * The speedup two lanes can reach at most when the start is serial: with S the fixed cost (a dry
 * run) and c the cores a --jobs 1 run keeps busy (CPU / wall), the rest of a --jobs 1 run, W1 - S,
 * is work that two cores finish in no less than (W1 - S) x c / 2. Median over the pairs. Beside the
 * ceiling (2 x wall / CPU, which two whole processes side by side approach), it says what is left
 * to the pool itself.
 */
function boundWithSerialStart(pairs: Array<{ one: Run }>, serialSeconds: number): number {
  return median(pairs.map(({ one }) => one.wall / (serialSeconds + ((one.wall - serialSeconds) * (one.cpu / one.wall)) / 2)));
}

export async function run(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-sweep-'));
  try {
    // Warm the file cache (a dry run reads every module) so neither timed run pays for cold reads;
    // the second dry run, with the cache warm, is the fixed cost.
    spawnSync(process.execPath, [CLI, 'sweep', SWEEP, '--dry-run'], { stdio: 'ignore' });
    const t0 = performance.now();
    spawnSync(process.execPath, [CLI, 'sweep', SWEEP, '--dry-run'], { stdio: 'ignore' });
    const dryRunSeconds = (performance.now() - t0) / 1000;
    // Others' work on the cores makes wall-clock ratios meaningless; the load average lags by
    // minutes, so sample the cores' idle time now instead.
    const idle = idleFraction(2000);
    const pairs = alternatingPairs(dir, 'p');
    // The two-process reference, next to a fresh --jobs 1 run so both see the host in the same mood.
    const alone = timeSweep(join(dir, 'alone'), 1).wall;
    const sideBySide = await timeTwoProcesses(join(dir, 'side-a'), join(dir, 'side-b'));
    const arithmetic = await arithmeticReference();
    const same = readFileSync(join(dir, 'p0-j1', 'results.csv'), 'utf8') === readFileSync(join(dir, 'p0-j2', 'results.csv'), 'utf8');
    if (!same) throw new Error('sweep --jobs 1 and --jobs 2 wrote different results.csv');
    const points = readFileSync(join(dir, 'p0-j1', 'points.jsonl'), 'utf8').trimEnd().split('\n').length;
    const ratios = pairs.map((p) => p.one.wall / p.two.wall);
    const large = alternatingPairs(dir, 'large', LARGE_SWEEP);
    const largeRatios = large.map((p) => p.one.wall / p.two.wall);
    const small = alternatingPairs(dir, 'small', SMALL_SWEEP).map((p) => p.one.wall / p.two.wall);
    const busy = idle < 0.9 ? `; cores only ${(100 * idle).toFixed(0)}% idle at start: shared, rerun idle` : '';
    return [
      { name: `sweep: ${points}-point CPU-bound sweep, --jobs 1 wall time (median of ${PAIRS})`, value: median(pairs.map((p) => p.one.wall)), unit: 's' },
      { name: `sweep: same sweep, --jobs 2 wall time (median of ${PAIRS})`, value: median(pairs.map((p) => p.two.wall)), unit: 's' },
      {
        name: `sweep: --jobs 2 speedup over --jobs 1, median of ${PAIRS} alternating pairs (pairs ${ratios.map((r) => r.toFixed(2)).join(', ')}; target >= ${TARGET_SPEEDUP} on 2 idle cores; ${availableParallelism()} CPUs${busy})`,
        value: median(ratios),
        unit: 'x',
      },
      {
        name: `sweep: 2048-point CPU-bound sweep (cpu-bound-large.yaml), --jobs 1 / --jobs 2 wall time ${median(large.map((p) => p.one.wall)).toFixed(1)} s / ${median(large.map((p) => p.two.wall)).toFixed(1)} s, speedup, median of ${PAIRS} alternating pairs (pairs ${largeRatios.map((r) => r.toFixed(2)).join(', ')}; ceiling ${median(large.map((p) => (2 * p.one.wall) / p.one.cpu)).toFixed(2)}x and bound with the serial start ${boundWithSerialStart(large, dryRunSeconds).toFixed(2)}x, as below)`,
        value: median(largeRatios),
        unit: 'x',
      },
      {
        name: `sweep: 10-point T3 sweep (t3-sensitivity.yaml, 0.2-0.7 s a point), --jobs 2 speedup, median of ${PAIRS} pairs (pairs ${small.map((r) => r.toFixed(2)).join(', ')}; a worker's start-up is a large share here)`,
        value: median(small),
        unit: 'x',
      },
      { name: 'sweep: --jobs 1 CPU time (user + system, median)', value: median(pairs.map((p) => p.one.cpu)), unit: 's' },
      { name: 'sweep: --jobs 2 CPU time (user + system, all threads, median)', value: median(pairs.map((p) => p.two.cpu)), unit: 's' },
      {
        name: `sweep: ceiling on the --jobs 2 speedup, 2 x wall / CPU of --jobs 1 (median of ${PAIRS}; --jobs 1 keeps ${median(pairs.map((p) => p.one.cpu / p.one.wall)).toFixed(2)} cores busy, V8's optimizing compiler running on the other core)`,
        value: median(pairs.map((p) => (2 * p.one.wall) / p.one.cpu)),
        unit: 'x',
      },
      {
        name: `sweep: bound with the serial start, W1 / (S + (W1 - S) x c / 2) (S the fixed cost below, c the cores --jobs 1 keeps busy; median of ${PAIRS})`,
        value: boundWithSerialStart(pairs, dryRunSeconds),
        unit: 'x',
      },
      { name: 'sweep: fixed cost, the same sweep with --dry-run (process start, modules, expansion)', value: dryRunSeconds, unit: 's' },
      {
        name: `sweep: host reference, two --jobs 1 processes side by side vs one alone (${sideBySide.toFixed(1)} s for two, ${alone.toFixed(1)} s for one; the same work without a pool)`,
        value: (2 * alone) / sideBySide,
        unit: 'x',
      },
      {
        name: `sweep: host reference, pure arithmetic: two processes side by side vs one alone (${arithmetic.two.toFixed(2)} s for two, ${arithmetic.alone.toFixed(2)} s for one; 2.0 when the host lends both cores, whatever their caches and memory do)`,
        value: (2 * arithmetic.alone) / arithmetic.two,
        unit: 'x',
      },
      recordLine(1024),
      recordLine(2048),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
