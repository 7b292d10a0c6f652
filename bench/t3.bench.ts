/**
 * T3 study benchmark: the whole `configs/experiments/t3.yaml` experiment (every hardware, model,
 * TP, sub-layer and configuration on every GPU of the group, the timeline, projection,
 * sensitivity sweeps and figures) into a temporary folder. Issue 5 asks for under 60 s on 2 cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import '../src/study/index.js';
import { loadExperimentFile } from '../src/sweep/experiment.js';
import { runT3Experiment, type T3Experiment } from '../src/study/t3/experiment.js';
import type { BenchLine } from './core.bench.js';

export async function run(): Promise<BenchLine[]> {
  const exp = loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 't3.yaml'));
  const out = mkdtempSync(join(tmpdir(), 'silica-t3-bench-'));
  try {
    const t0 = performance.now();
    const r = await runT3Experiment(exp.config as T3Experiment, { outDir: out, baseDir: exp.baseDir });
    const s = (performance.now() - t0) / 1000;
    return [
      { name: 't3: full experiment (configs/experiments/t3.yaml)', value: s, unit: 's' },
      { name: 't3: sub-layer configurations per second', value: r.rows.length / s, unit: 'runs/s' },
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
