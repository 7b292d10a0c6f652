import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { loadExperimentFile, runExperiment } from '../../src/sweep/experiment.js';

describe('serve experiment kind', () => {
  it('validates configs/experiments/rapid-serve.yaml', () => {
    const exp = loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'rapid-serve.yaml'));
    expect(exp.kind.name).toBe('serve');
  });

  it('runs a small study: unconstrained throughput, rate sweep, goodput, comparison and figures', async () => {
    const exp = loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'rapid-serve.yaml'), [
      'models=[mixtral-8x7b]',
      'workloads=[lmsys]',
      'requests=60',
      'rate_fractions=[0.5, 1.0, 1.5]',
      'goodput_probes=1',
      'policies=[{name: hybrid-512, policy: hybrid, options: {chunk: 512}}, {name: disagg-4p4d, policy: disagg, options: {prefill_gpus: 4, decode_gpus: 4}}, {name: rapid, policy: rapid}]',
    ]);
    const out = mkdtempSync(join(tmpdir(), 'silica-serve-exp-'));
    const r = await runExperiment(exp, { outDir: out });
    expect(r.rows.filter((x) => x.mode === 'unconstrained')).toHaveLength(3);
    expect(r.rows.filter((x) => x.mode === 'rate').length).toBeGreaterThanOrEqual(9);
    for (const f of ['goodput.csv', 'comparison.csv', 'cu_split.csv', 'latency_ttft.svg', 'latency_itl.svg', 'goodput.svg', 'cu_split.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'goodput.svg'), 'utf8')).toMatch(/^<svg/);
    const s = r.summary as Record<string, Record<string, number | boolean>>;
    expect(s['rapid_vs_hybrid-512']!.throughput_ratio_avg).toBeGreaterThan(0);
    expect(typeof s['rapid_vs_disagg-4p4d']!.goodput_higher_everywhere).toBe('boolean');
  });
});
