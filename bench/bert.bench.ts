/**
 * BERT study benchmark: the whole `configs/experiments/bert.yaml` experiment (every configuration,
 * tables, report and figures into a temporary folder). Issue 6 asks for under 60 s on 2 cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import '../src/study/index.js';
import { loadExperimentFile } from '../src/sweep/experiment.js';
import { runBertExperiment } from '../src/study/bert/index.js';
import type { BertExperiment } from '../src/study/bert/study.js';
import type { BenchLine } from './core.bench.js';

export async function run(): Promise<BenchLine[]> {
  const exp = loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'bert.yaml'));
  const out = mkdtempSync(join(tmpdir(), 'silica-bert-bench-'));
  try {
    const t0 = performance.now();
    const r = await runBertExperiment(exp.config as BertExperiment, { outDir: out, baseDir: exp.baseDir });
    const s = (performance.now() - t0) / 1000;
    return [
      { name: 'bert: full experiment (configs/experiments/bert.yaml)', value: s, unit: 's' },
      { name: 'bert: configurations per second', value: r.rows.length / s, unit: 'configs/s' },
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
