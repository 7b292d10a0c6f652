/**
 * Scale benchmark: a sweep of 140,000 tiny points (bench/sweeps/many-points.yaml) through the CLI:
 * listing it, running it with --jobs 2, resuming it with every point done, and merging the folder.
 * Each line gives the wall time and the process's peak resident memory (all threads), which is what
 * bounds how many points one process can take. See docs/sweeps.md ("Sweeps of a million points").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { BenchLine } from './core.bench.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const CLI = join(root, 'dist', 'bundle', 'main.js');
const SWEEP = join(root, 'bench', 'sweeps', 'many-points.yaml');

// Loaded before the CLI: reports the process's peak RSS (kB) on stderr as it exits.
const REPORT_PEAK = `data:text/javascript,process.on('exit',()=>process.stderr.write('peak-rss-kb '+process.resourceUsage().maxRSS+'\\n'))`;

function timed(args: string[]): { seconds: number; peakMb: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', REPORT_PEAK, CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`silica ${args.join(' ')} failed: ${r.stderr.trim().split('\n')[0]}`);
  const kb = Number(/peak-rss-kb (\d+)/.exec(r.stderr)?.[1]);
  return { seconds, peakMb: kb / 1024 };
}

export function run(): BenchLine[] {
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-scale-'));
  try {
    const out = join(dir, 'sweep');
    const list = timed(['sweep', SWEEP, '--dry-run']);
    const sweep = timed(['sweep', SWEEP, '--out', out, '--jobs', '2', '--quiet']);
    const resume = timed(['sweep', SWEEP, '--out', out, '--jobs', '2', '--resume', '--quiet']);
    const merge = timed(['merge', out, '--out', join(dir, 'merged')]);
    const line = (what: string, r: { seconds: number; peakMb: number }): BenchLine[] => [
      { name: `scale: 140,000-point sweep, ${what}, wall time`, value: r.seconds, unit: 's' },
      { name: `scale: 140,000-point sweep, ${what}, peak RSS`, value: r.peakMb, unit: 'MB' },
    ];
    return [...line('--dry-run', list), ...line('run with --jobs 2', sweep), ...line('--resume with every point done', resume), ...line('silica merge of the folder', merge)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
