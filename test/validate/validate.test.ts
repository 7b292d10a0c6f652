import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica } from '../helpers/cli.js';

describe('silica validate', () => {
  it('passes on the shipped reference set and prints the error per group', () => {
    const r = silica(['validate']);
    expect(r.code).toBe(0);
    // stderr holds only progress (periodic lines, as it is not a terminal), ending on the last point.
    const progress = r.stderr.trim().split('\n');
    for (const line of progress) expect(line).toMatch(/^progress: \d+\/\d+ points \(\d+%\)/);
    expect(progress.at(-1)).toMatch(/^progress: (\d+)\/\1 points \(100%\)/);
    expect(r.stdout).toMatch(/mean absolute error per group/);
    expect(r.stdout).toMatch(/^\s+gemm\s+\d+\.\d%/m);
    // The STREAM figures are the ones memory.hbm.efficiency was read off: no prediction to score.
    expect(r.stdout).toMatch(/^\s+stream\s+-\s+\(all 12 points fitted/m);
  });

  it('leaves fitted points out of the mean error but still fails one that misses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-val-'));
    const file = join(dir, 'fit.yaml');
    const copy = (name: string, measured: number, fitted: boolean) =>
      `  - { name: ${name}, runner: stream, params: { op: copy, array_bytes: 1GiB }, metric: achieved_gbps, measured: ${measured}, tolerance_pct: 10, source: s, fitted: ${fitted} }`;
    writeFileSync(file, ['group: lab', 'points:', copy('fit', 1650, true), copy('check', 1550, false)].join('\n'));
    const ok = silica(['validate', '--points', file, '--hw', 'a100-sxm', '--json']);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.points.map((p: { fitted: boolean }) => p.fitted)).toEqual([true, false]);
    // The group's mean is the prediction's error alone, not its average with the fit's.
    expect(report.mapeByGroup.lab).toBeCloseTo(Math.abs(report.points[1].error_pct), 9);
    const text = silica(['validate', '--points', file, '--hw', 'a100-sxm']);
    expect(text.stdout).toMatch(/^lab\s+fit\s.*\sfit$/m);
    expect(text.stdout).toMatch(/^\s+lab\s+\d+\.\d%\s+\(1 fitted point left out\)$/m);
    // A fitted point outside its tolerance means the calibration broke: the run fails.
    writeFileSync(file, ['group: lab', 'points:', copy('fit', 1000, true)].join('\n'));
    const broken = silica(['validate', '--points', file, '--hw', 'a100-sxm']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/FAIL/);
  });

  it('fails when a model is broken (HBM twice as fast as it is)', () => {
    const r = silica(['validate', '--only', 'stream', '--set', 'memory.hbm.peak_gbps=10650', '--set', 'memory.hbm.efficiency=0.78']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL/);
    expect(r.stderr).toMatch(/outside tolerance/);
  });

  it('fails when the GEMM clock is doubled', () => {
    const r = silica(['validate', '--only', '^gemm$', '--set', 'compute.clock_sustained_mhz=2100', '--set', 'compute.clock_peak_mhz=2100']);
    expect(r.code).toBe(1);
  });

  it('refuses --hw without --points at once: the shipped points measure their own parts', () => {
    expectOneLineError(silica(['validate', '--hw', 'h100-sxm']), /^silica: --hw h100-sxm: expected --points FILE\.yaml too/);
    expectOneLineError(silica(['validate', '--hw=']), /^silica: --hw: expected a preset name or a YAML path, got nothing$/);
  });

  it('accepts a lab\'s own hardware and points', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-val-'));
    const points = join(dir, 'mine.yaml');
    writeFileSync(
      points,
      [
        'group: my-lab',
        'points:',
        '  - { name: copy, runner: stream, params: { op: copy, array_bytes: 1GiB }, metric: achieved_gbps, measured: 1650, tolerance_pct: 10, source: our bench }',
      ].join('\n'),
    );
    const ok = silica(['validate', '--points', points, '--hw', 'a100-sxm', '--json']);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.points[0].within).toBe(true);
    expect(report.mapeByGroup['my-lab']).toBeLessThan(10);
  });

  it('rejects a malformed points file with one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-val-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'group: x\npoints:\n  - { name: a, runner: gemm, metric: tflops, measured: "lots", tolerance_pct: 5, source: s }\n');
    expectOneLineError(silica(['validate', '--points', bad]), /bad\.yaml: points\.0\.measured/);
  });

  it('refuses two points of one name (the report and --only find a point by its name)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-val-'));
    const file = join(dir, 'twice.yaml');
    const point = (m: number) => `  - { name: p, runner: gemm, hw: mi300x, params: { m: ${m}, n: 64, k: 64 }, metric: tflops, measured: 1, tolerance_pct: 10, source: s }\n`;
    writeFileSync(file, `group: x\npoints:\n${point(64)}${point(128)}`);
    expectOneLineError(silica(['validate', '--points', file]), /twice\.yaml: points\.1\.name: expected a unique name, "p" is also points\.0\.name/);
  });

  it('rejects an --only pattern that matches nothing', () => {
    expectOneLineError(silica(['validate', '--only', 'no-such-point-xyz']), /no validation point matches/);
  });
  it('names the file, the point and the field when a point cannot run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-val-'));
    const point = (fields: string) =>
      `group: x\npoints:\n  - { name: p1, runner: gemm, hw: mi300x, params: { m: 4096, n: 4096, k: 4096, dtype: bf16 }, metric: tflops, measured: 500, tolerance_pct: 20, source: s, ${fields} }\n`;
    const cases: Array<[string, string, RegExp]> = [
      // A parameter the runner never reads would silently validate something else.
      ['extra.yaml', point('').replace('dtype: bf16 }', 'dtype: bf16, zz: 1 }'), /extra\.yaml: points\.0 \("p1"\): params\.zz: not a parameter of runner gemm \(it read .*\bm\b.*\)/],
      ['hw.yaml', point('').replace('hw: mi300x', 'hw: nope'), /hw\.yaml: points\.0 \("p1"\): hw: unknown preset "nope"/],
      ['param.yaml', point('').replace('m: 4096', 'm: abc'), /param\.yaml: points\.0 \("p1"\): params\.m: expected a number, got "abc"/],
      // The kernel model names its inputs as `silica kernel gemm` takes them (-m): here they are the point's params.
      ['model.yaml', point('').replace('m: 4096', 'm: 0'), /model\.yaml: points\.0 \("p1"\): params\.m: expected a positive whole number, got 0$/],
      ['metric.yaml', point('').replace('metric: tflops', 'metric: flopz'), /metric\.yaml: points\.0 \("p1"\): metric: runner gemm has no metric flopz/],
      // Errors are relative to the measured figure: zero or a negative one would give infinities.
      ['zero.yaml', point('').replace('measured: 500', 'measured: 0'), /zero\.yaml: points\.0\.measured/],
    ];
    for (const [name, text, pattern] of cases) {
      writeFileSync(join(dir, name), text);
      expectOneLineError(silica(['validate', '--points', join(dir, name)]), pattern);
    }
  });
});
