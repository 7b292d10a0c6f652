import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runT3Experiment, t3ExperimentSchema } from '../../src/study/t3/experiment.js';
import { expectOneLineError, silica, silicaJson } from '../helpers/cli.js';

describe('T3 experiment and CLI', () => {
  it('writes one row per sub-layer x configuration, headline figures and the figures', async () => {
    const config = t3ExperimentSchema.parse({
      kind: 't3',
      tokens: 2048,
      hardware: [{ hw: 't3-baseline', models: [{ model: 'mega-gpt2-8.3b', tp: [4] }] }],
      sublayers: ['attn-out', 'fc2'],
      configurations: ['sequential', 't3', 't3-mca', 'ideal-overlap'],
      timeline: { hw: 't3-baseline', model: 'mega-gpt2-8.3b', tp: 4, sublayer: 'fc2', bins: 20 },
      sensitivity: [{ name: 'link_gbps', hw: 't3-baseline', models: [{ model: 'mega-gpt2-8.3b', tp: [4] }], sublayers: ['fc2'], variants: [{ label: 75, hw_overrides: { interconnect: { link_gbps: 75 } } }, { label: 150, hw_overrides: { interconnect: { link_gbps: 150 } } }] }],
      jobs: 1,
    });
    const out = mkdtempSync(join(tmpdir(), 'silica-t3-'));
    try {
      const r = await runT3Experiment(config, { outDir: out });
      expect(r.rows).toHaveLength(2 * 4);
      for (const row of r.rows) {
        for (const c of ['time_us', 'speedup_vs_sequential', 'dram_read_bytes', 'dram_write_bytes', 'link_bytes']) expect(typeof row[c]).toBe('number');
      }
      const hw = (r.summary!.hardware as Record<string, { geomean_speedup: Record<string, number> }>)['t3-baseline']!;
      expect(hw.geomean_speedup.sequential).toBeCloseTo(0, 12);
      expect(hw.geomean_speedup['t3-mca']).toBeGreaterThan(0);
      for (const f of ['speedup.svg', 'data_movement.svg', 'dram_timeline.svg', 'sensitivity.svg', 'dram_timeline.csv', 'sensitivity.csv']) {
        expect(r.files).toContain(f);
        expect(existsSync(join(out, f))).toBe(true);
      }
      expect(readFileSync(join(out, 'speedup.svg'), 'utf8')).toMatch(/^<svg/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('silica t3 prints every configuration with time, speedup and traffic', () => {
    const r = silicaJson<{ configurations: Array<Record<string, number | string>> }>(['t3', '--model', 'mega-gpt2-8.3b', '--tp', '4', '--sublayer', 'attn-out', '--pass', 'fwd', '--tokens', '2048']);
    expect(r.configurations.map((c) => c.configuration)).toEqual(['sequential', 't3', 't3-mca', 'ideal-overlap', 'ideal-rs-nmc', 'cu-split']);
    for (const c of r.configurations) {
      for (const k of ['time_us', 'speedup_vs_sequential', 'dram_read_bytes', 'dram_write_bytes', 'link_bytes']) expect(c[k]).toBeGreaterThan(0);
    }
  });

  it('rejects a sub-layer in the wrong pass with one line', () => {
    expectOneLineError(silica(['t3', '--model', 't-nlg-17b', '--tp', '8', '--sublayer', 'qkv', '--pass', 'fwd']), /--pass: sub-layer qkv needs its all-reduce in the bwd pass/);
  });
});
