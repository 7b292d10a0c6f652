import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runT3Experiment, t3ExperimentSchema } from '../../src/study/t3/experiment.js';
import { sublayerGemm } from '../../src/study/t3/sublayers.js';
import { expectOneLineError, silica, silicaJson } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

describe('T3 experiment and CLI', () => {
  it('reports progress by expected work: a case weighs its TP group size times its configurations', async () => {
    const config = t3ExperimentSchema.parse({
      kind: 't3',
      tokens: 2048,
      hardware: [{ hw: 't3-baseline', models: [{ model: 'mega-gpt2-8.3b', tp: [2, 4] }] }],
      sublayers: ['fc2'],
      configurations: ['sequential', 't3'],
      sensitivity: [],
      figures: false,
      jobs: 1,
    });
    const seen: number[] = [];
    await runT3Experiment(config, { progress: (f) => seen.push(f) });
    // TP 2 then TP 4, two configurations each: 2 x 2 of 4 x 2 + 2 x 2, then all of it.
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeCloseTo(1 / 3, 12);
    expect(seen[1]).toBeCloseTo(1, 12);
  });

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
    expect(r.configurations.map((c) => c.configuration)).toEqual(['sequential', 't3', 't3-mca', 't3-mca-adaptive', 'ideal-overlap', 'ideal-rs-nmc', 'ideal-overlap-nmc', 'cu-split']);
    for (const c of r.configurations) {
      for (const k of ['time_us', 'speedup_vs_sequential', 'dram_read_bytes', 'dram_write_bytes', 'link_bytes']) expect(c[k]).toBeGreaterThan(0);
    }
  });

  it('rejects a sub-layer in the wrong pass with one line', () => {
    expectOneLineError(silica(['t3', '--model', 't-nlg-17b', '--tp', '8', '--sublayer', 'qkv', '--pass', 'fwd']), /--pass: sub-layer qkv needs its all-reduce in the bwd pass/);
  });

  it('bad flags are named as typed, before any configuration runs', () => {
    const t3 = ['t3', '--model', 't-nlg-17b', '--sublayer', 'fc2'];
    // The TP group is simulated on the part: t3 has no --gpus to name.
    expectOneLineError(silica([...t3, '--tp', '64']), /^silica: --tp: t3-baseline has 32 GPUs per node x 1 node\(s\) = 32, got 64 /);
    expectOneLineError(silica([...t3, '--tp', '8', '--cu-split-cus', '100000']), /^silica: --cu-split-cus: expected a whole number from 1 to 79, got 100000$/);
    expectOneLineError(silica([...t3, '--tp', '8', '--configurations', '']), /^silica: --configurations: expected one or more of sequential, t3, t3-mca, t3-mca-adaptive, ideal-overlap, ideal-rs-nmc, ideal-overlap-nmc, cu-split, got none$/);
    // 17024 / 3 is not whole: no rounding to 5675 and fractional byte counts.
    expectOneLineError(silica([...t3, '--tp', '3']), /^silica: --tp 3: t-nlg-17b's FFN width 17024 does not split evenly over 3 ranks$/);
  });

  it('checks an experiment file up front, naming each field by its path in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-t3-bad-'));
    const study = (extra: string, tp = '[8]') => `kind: t3\ntokens: 1024\nhardware:\n  - hw: t3-baseline\n    models:\n      - { model: t-nlg-17b, tp: ${tp} }\nsublayers: [fc2]\n${extra}`;
    const cases: Array<[string, string, RegExp]> = [
      // cu_split applies wherever cu-split runs (a sensitivity study, the projection): checked even when `configurations` leaves it out.
      ['cus.yaml', study('configurations: [sequential, t3]\ncu_split: { cus: 1000, pieces: 4 }\n'), /cus\.yaml: cu_split\.cus: expected a whole number from 1 to 79, got 1000 \(hardware\.0 is t3-baseline, 80 CUs\)$/],
      // As collective cu-overlap --chunks: a piece is a block of the GEMM's rows.
      ['pieces.yaml', study('configurations: [sequential, cu-split]\ncu_split: { cus: 8, pieces: 100000 }\n'), /pieces\.yaml: cu_split\.pieces: expected at most tokens \(1024\) row blocks, got 100000$/],
      ['split.yaml', study('', '[8, 3]'), /split\.yaml: hardware\.0\.models\.0\.tp\.1: t-nlg-17b's FFN width 17024 does not split evenly over 3 ranks$/],
      ['group.yaml', study('', '[64]'), /group\.yaml: hardware\.0\.models\.0\.tp\.0: t3-baseline has 32 GPUs per node x 1 node\(s\) = 32, got 64/],
      ['hw.yaml', study('').replace('hw: t3-baseline', 'hw: nope'), /hw\.yaml: hardware\.0\.hw: unknown preset "nope"/],
    ];
    try {
      for (const [name, text, pattern] of cases) {
        const file = join(dir, name);
        writeFileSync(file, text);
        expectOneLineError(silica(['run', file, '--out', join(dir, `${name}.out`)]), pattern);
        expect(existsSync(join(dir, `${name}.out`))).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the sharded width of each sub-layer must split over TP (in-process)', () => {
    expect(silicaErrorOf(() => sublayerGemm('t-nlg-17b', 3, 'attn-out', 8192))).toBe("--tp 3: t-nlg-17b's attention width 4256 does not split evenly over 3 ranks");
    expect(silicaErrorOf(() => sublayerGemm('t-nlg-17b', 64, 'qkv', 8192))).toBe("--tp 64: t-nlg-17b's attention width 4256 does not split evenly over 64 ranks");
    expect(sublayerGemm('t-nlg-17b', 64, 'fc2', 8192).k).toBe(17024 / 64);
  });
});
