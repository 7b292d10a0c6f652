import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectOneLineError, silica, silicaJson } from '../helpers/cli.js';
import { svgInfo } from '../sweep/helpers.js';
import { HardwareCoster } from '../../src/study/bert/coster.js';
import { simulateIteration } from '../../src/study/bert/iteration.js';
import { bertPointSchema, precisionLabel } from '../../src/study/bert/point.js';

const dir = mkdtempSync(join(tmpdir(), 'silica-bert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function csv(path: string): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

describe('silica bert', () => {
  it('prints iteration_us and a breakdown whose cells sum to it', () => {
    const r = silicaJson<{ iteration_us: number; samples_per_s: number; time_to_train_s: number; breakdown: Array<{ category: string; pass: string; time_us: number; share: number }> }>(
      ['bert', '--model', 'bert-large', '--seq', '512', '--batch', '16', '--precision', 'mixed', '--hw', 'mi300x', '--steps', '1000'],
    );
    const sum = r.breakdown.reduce((s, c) => s + c.time_us, 0);
    expect(Math.abs(sum / r.iteration_us - 1)).toBeLessThan(1e-4);
    expect(r.samples_per_s).toBeCloseTo(16 / (r.iteration_us * 1e-6), 0);
    expect(r.time_to_train_s).toBeCloseTo(1000 * r.iteration_us * 1e-6, 0);
    expect(new Set(r.breakdown.map((c) => c.pass))).toEqual(new Set(['fwd', 'bwd', 'opt']));
  });

  it('--no-fuse-bias-act runs every element-wise op as its own kernel', () => {
    const args = ['bert', '--model', 'bert-base', '--seq', '128', '--batch', '8', '--precision', 'mixed', '--optimizer', 'adam', '--hw', 'mi300x'];
    type Out = { fuse_bias_act: boolean; iteration_us: number; breakdown: Array<{ category: string; kernels: number }> };
    const unfused = silicaJson<Out>([...args, '--no-fuse-bias-act']);
    const fused = simulateIteration(bertPointSchema.parse({ model: 'bert-base', seq: 128, batch: 8, precision: 'mixed-fp16', optimizer: 'adam', hw: 'mi300x' }), new HardwareCoster('mi300x'));
    const elementwise = (cells: ReadonlyArray<{ category: string; kernels: number }>) => cells.filter((c) => c.category === 'elementwise').reduce((s, c) => s + c.kernels, 0);
    expect(unfused.fuse_bias_act).toBe(false);
    expect(elementwise(unfused.breakdown)).toBeGreaterThan(elementwise(fused.cells));
    expect(unfused.iteration_us).toBeGreaterThan(fused.iterationNs / 1e3);
  });

  it('rejects bad input with one line', () => {
    // Each spawn costs a CLI start-up; the other checks (precision, optimizer, batch) are the same
    // SilicaError path, covered at the library level in findings.test.ts.
    expectOneLineError(silica(['bert', '--model', 'bert-huge']), /unknown model "bert-huge"/);
    // Every rank of the gradient all-reduce is simulated: a million would run out of memory.
    expectOneLineError(silica(['bert', '--dp', '1000000']), /--dp: expected at most 256 data-parallel GPUs/);
    // The half dtype is its own flag: the message names it, not --precision.
    expectOneLineError(silica(['bert', '--mixed-dtype', 'fp8']), /^silica: --mixed-dtype: expected fp16 or bf16, got "fp8"$/);
    // A precision that names its half dtype (or has none) does not let the flag silently lose.
    expect(() => precisionLabel('mixed-fp16', 'bf16')).toThrow(/^--mixed-dtype: applies to --precision mixed only, got --precision mixed-fp16$/);
    expect(() => precisionLabel('fp32', 'fp16')).toThrow(/^--mixed-dtype: applies to --precision mixed only/);
    expect([precisionLabel('mixed'), precisionLabel('mixed', 'bf16'), precisionLabel('mixed-bf16')]).toEqual(['mixed-fp16', 'mixed-bf16', 'mixed-bf16']);
    expectOneLineError(silica(['bert', '--tp', '3']), /^silica: --tp: bert-large's attention width 1024 does not split evenly over 3 ranks$/);
    expectOneLineError(silica(['bert', '--bucket-mb', '0']), /^silica: --bucket-mb: expected a positive number, got "0"$/);
    expectOneLineError(silica(['bert', '--recompute', '--selective-recompute']), /^silica: --selective-recompute: not with --recompute/);
    // PyTorch has no for-loop LAMB (the default optimizer): said, not run as something else.
    expectOneLineError(silica(['bert', '--optimizer-impl', 'per-tensor']), /^silica: --optimizer-impl: per-tensor is PyTorch's for-loop AdamW: expected the adam optimizer, got lamb/);
  });
});

describe('silica run (kind: bert)', () => {
  it('writes breakdown.csv, gemms.csv, report.md and the figures', () => {
    const file = join(dir, 'bert-small.yaml');
    writeFileSync(
      file,
      [
        'kind: bert',
        'steps: 1000',
        'baseline: { model: bert-base, seq: 128, batch: 8, precision: mixed-fp16, optimizer: adam, hw: mi300x }',
        'studies:',
        '  - { name: precision, vary: { precision: [fp32, mixed-fp16], seq: [128, 512] } }',
        '  - { name: batch, vary: { batch: [1, 4] } }',
        '  - { name: mb, vary: { micro_batches: [1, 2] } }',
        '  - { name: dp, vary: { dp: [1, 2] } }',
        '  - { name: fusion, vary: { fuse_bias_act: [true, false] } }',
      ].join('\n'),
    );
    const out = join(dir, 'out');
    const r = silica(['run', file, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['results.csv', 'breakdown.csv', 'gemms.csv', 'report.md', 'breakdown.svg', 'memory_bound_vs_batch.svg', 'optimizer_vs_micro_batches.svg', 'communication_vs_dp.svg', 'roofline.svg', 'fusion.svg']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    // The fusion figure: two bars (fused, unfused) of stacked categories, with its axes.
    const fusionSvg = svgInfo(readFileSync(join(out, 'fusion.svg'), 'utf8'));
    expect(fusionSvg.valid && fusionSvg.root === 'svg').toBe(true);
    expect(fusionSvg.axes).toBeGreaterThanOrEqual(2);
    expect(fusionSvg.markKinds).toEqual(new Set(['bar']));
    expect(fusionSvg.marks).toBeGreaterThanOrEqual(2 * 6);
    const results = csv(join(out, 'results.csv'));
    const breakdown = csv(join(out, 'breakdown.csv'));
    expect(results.length).toBe(12);
    // A varied option is a column of its own: the fusion study's two rows differ by it.
    const fusion = results.filter((row) => row.study === 'fusion');
    expect(fusion.map((row) => row.fuse_bias_act).sort()).toEqual(['false', 'true']);
    expect(fusion.every((row) => row.flash_attention === 'false')).toBe(true);
    for (const row of results) {
      const cells = breakdown.filter((b) => b.study === row.study && (['model', 'seq', 'batch', 'precision', 'micro_batches', 'dp', 'fuse_bias_act'] as const).every((k) => b[k] === row[k]));
      const sum = cells.reduce((s, c) => s + Number(c.time_us), 0);
      expect(Math.abs(sum / Number(row.iteration_us) - 1)).toBeLessThan(1e-4);
      const shares = cells.reduce((s, c) => s + Number(c.share), 0);
      expect(shares).toBeCloseTo(1, 4);
      // Throughput per GPU: the step's samples over its tp x dp GPUs.
      expect(Number(row.gpus)).toBe(Number(row.tp) * Number(row.dp));
      expect(Math.abs((Number(row.samples_per_s_per_gpu) * Number(row.gpus)) / Number(row.samples_per_s) - 1)).toBeLessThan(1e-5);
    }
    // Memory per GPU, as `silica bert` reports it for the same configuration; more sequences hold more.
    for (const row of results) expect(Number(row.memory_bytes)).toBe(Number(row.model_state_bytes) + Number(row.activation_bytes));
    expect(results.every((row) => row.fits_hbm === 'true')).toBe(true);
    const [b1, b4] = [1, 4].map((b) => results.find((row) => row.study === 'batch' && row.batch === String(b))!);
    expect(Number(b4!.activation_bytes)).toBeGreaterThan(Number(b1!.activation_bytes));
    expect(b4!.model_state_bytes).toBe(b1!.model_state_bytes);
    const single = JSON.parse(silica(['bert', '--model', 'bert-base', '--seq', '128', '--batch', '4', '--precision', 'mixed', '--optimizer', 'adam', '--hw', 'mi300x', '--json']).stdout);
    expect(Number(b4!.memory_bytes)).toBe(single.memory_bytes.total);
    const gemms = csv(join(out, 'gemms.csv'));
    expect(Object.keys(gemms[0]!)).toEqual(expect.arrayContaining(['pass', 'm', 'n', 'k', 'gemm_batch', 'flops', 'dram_bytes', 'arithmetic_intensity_flop_per_byte', 'achieved_tflops', 'bound']));
    expect(gemms.some((g) => g.pass === 'bwd' && g.gemm.endsWith('wgrad'))).toBe(true);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/## 1\. GEMMs dominate in fp32/);
    expect(report).toMatch(/## 4\. Gradient accumulation/);
    expect(report).toMatch(/## 8\. Kernel fusion\n\n\| configuration .*\n.*\n\| bert-base, seq 128, batch 8, mixed-fp16, adam, mi300x \| bias \+ activation \| [\d.]+ ms → [\d.]+ ms \|/);
    expect(report).toMatch(/## Memory per GPU\n\nEvery configuration fits in its GPU's HBM .*the fullest: bert-base, seq 512, batch 8, fp32/);
  });

  it('rejects an unknown field with one line naming it', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'kind: bert\nstudies:\n  - { name: x, vary: { batchsize: [1, 2] } }\n');
    expectOneLineError(silica(['run', file, '--out', join(dir, 'bad')]), /studies\.0\.vary\.batchsize: not a configuration field/);
  });

  it('names the file, and the field rather than the CLI flag, when a value fails at run time', () => {
    const file = join(dir, 'badhw.yaml');
    writeFileSync(file, 'kind: bert\nbaseline: { seq: 128, batch: 2 }\nstudies:\n  - { name: x, vary: { hw: [mi300x, nope] } }\n');
    const out = join(dir, 'badhw');
    expectOneLineError(silica(['run', file, '--out', out]), /badhw\.yaml: studies\.0\.vary\.hw\.1: unknown preset "nope"/);
    expect(existsSync(out)).toBe(false);
  });

  it('names the field by its full path in the file: the axis value, the baseline or the study\'s set', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['seq.yaml', 'kind: bert\nbaseline: { model: bert-base, seq: 128, batch: 2 }\nstudies:\n  - { name: x, vary: { seq: [128, 100000] } }\n', /seq\.yaml: studies\.0\.vary\.seq\.1: bert-base supports at most 512 positions, got 100000$/],
      ['basehw.yaml', 'kind: bert\nbaseline: { seq: 128, batch: 2, hw: nope }\nstudies:\n  - { name: x, vary: { batch: [2] } }\n', /basehw\.yaml: baseline\.hw: unknown preset "nope"/],
      ['setseq.yaml', 'kind: bert\nbaseline: { model: bert-base, seq: 128, batch: 2 }\nstudies:\n  - { name: x, set: { seq: 1024 }, vary: { batch: [2] } }\n', /setseq\.yaml: studies\.0\.set\.seq: bert-base supports at most 512 positions, got 1024$/],
      ['model.yaml', 'kind: bert\nbaseline: { seq: 128, batch: 2 }\nstudies:\n  - { name: x, vary: { model: [bert-base, bert-huge] } }\n', /model\.yaml: studies\.0\.vary\.model\.1: unknown model "bert-huge"/],
    ];
    for (const [name, text, pattern] of cases) {
      writeFileSync(join(dir, name), text);
      expectOneLineError(silica(['run', join(dir, name), '--out', join(dir, `${name}.out`)]), pattern);
    }
  });

  it('refuses two studies of one name (rows, the report and the figures find a study by its name)', () => {
    const file = join(dir, 'twice.yaml');
    writeFileSync(file, 'kind: bert\nbaseline: { seq: 128, batch: 2 }\nstudies:\n  - { name: x, vary: { batch: [2] } }\n  - { name: x, vary: { seq: [128] } }\n');
    expectOneLineError(silica(['run', file, '--out', join(dir, 'twice')]), /twice\.yaml: studies\.1\.name: expected a unique name, "x" is also studies\.0\.name/);
  });
});
