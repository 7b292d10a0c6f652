import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, expectOneLineError, silica, silicaJson } from '../helpers/cli.js';
import { FIXTURES, read, svgInfo, tempDir } from './helpers.js';

describe('silica run and silica plot', () => {
  const dir = tempDir('run');

  it('runs the quickstart suite: tables, summary, resolved config and a valid figure', () => {
    const out = join(dir, 'quickstart');
    const r = silica(['run', 'configs/experiments/quickstart.yaml', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`tables:  ${join(out, 'results.csv')}`);
    expect(r.stdout).toContain(`figures: ${join(out, 'kernels', 'kernels.svg')}`);
    const csv = read(join(out, 'results.csv')).trimEnd().split('\n');
    expect(csv[0]).toMatch(/^experiment,hw,kernel,op,.*time_us,tflops,achieved_gbps/);
    expect(csv.slice(1).every((l) => l.startsWith('kernels,mi300x,'))).toBe(true);
    const summary = JSON.parse(read(join(out, 'summary.json')));
    expect(summary).toMatchObject({ kind: 'suite', files: ['kernels/kernels.svg'] });
    const svg = svgInfo(read(join(out, 'kernels', 'kernels.svg')));
    expect(svg).toMatchObject({ valid: true, root: 'svg' });
    expect(svg.axes).toBeGreaterThanOrEqual(2);
    expect(svg.marks).toBe(csv.length - 1);
    expect([...svg.markKinds]).toEqual(['bar']);

    // The resolved config reruns to the same bytes: deterministic, self-contained outputs.
    const again = join(dir, 'again');
    expect(silica(['run', join(out, 'config.resolved.yaml'), '--out', again]).code).toBe(0);
    expect(read(join(again, 'results.csv'))).toBe(read(join(out, 'results.csv')));
    expect(read(join(again, 'kernels', 'kernels.svg'))).toBe(read(join(out, 'kernels', 'kernels.svg')));
  });

  it('applies --set overlays and reports with --json', () => {
    const exp = join(dir, 'k.yaml');
    writeFileSync(exp, 'kind: kernels\nhw: mi300x\nfigure: false\npoints:\n  - { op: stream, stream: copy, bytes: 1GiB }\n');
    const r = silicaJson<{ rows: number; tables: string[]; figures: string[] }>(['run', exp, '--out', join(dir, 'k'), '--set', 'hw=h100-sxm']);
    expect(r.rows).toBe(1);
    expect(r.figures).toEqual([]);
    expect(read(join(dir, 'k', 'results.csv'))).toMatch(/^h100-sxm,stream_copy/m);
  });

  it('plots every mark kind from a sweep table as valid SVG with axes and marks', () => {
    const sweepOut = join(dir, 'sweep');
    expect(silica(['sweep', join(FIXTURES, 'small.yaml'), '--out', sweepOut, '--jobs', '1']).code).toBe(0);
    const csv = join(sweepOut, 'results.csv');
    const cases: Array<[string[], string]> = [
      [['--x', 'hw', '--y', 'time_us', '--color', 'op', '--mark', 'bar', '--log-y'], 'bar'],
      [['--x', 'gemm_m', '--y', 'achieved_gbps', '--color', 'hw', '--facet', 'variant', '--mark', 'line'], 'line'],
      [['--x', 'hbm_bytes', '--y', 'time_us', '--color', 'variant', '--mark', 'point', '--log-y'], 'point'],
    ];
    for (const [flags, kind] of cases) {
      const fig = join(dir, `${kind}.svg`);
      const r = silica(['plot', csv, ...flags, '--out', fig]);
      expect(r.code, r.stderr).toBe(0);
      const info = svgInfo(readFileSync(fig, 'utf8'));
      expect(info.valid, kind).toBe(true);
      expect(info.root).toBe('svg');
      expect(info.axes, kind).toBeGreaterThanOrEqual(2);
      expect(info.marks, kind).toBeGreaterThan(0);
      expect([...info.markKinds].join(' '), kind).toContain(kind === 'point' ? 'point' : kind);
    }
  });

  it('bad plot and run input: one-line errors, no file written', () => {
    const csv = join(dir, 't.csv');
    writeFileSync(csv, 'a,b,name\n1,2,x\n2,0,y\n');
    const fig = join(dir, 'bad.svg');
    expectOneLineError(silica(['plot', csv, '--x', 'a', '--y', 'nope', '--out', fig]), /t\.csv: --y: expected one of the columns \(a, b, name\), got "nope"/);
    expectOneLineError(silica(['plot', csv, '--x', 'a', '--y', 'name', '--out', fig]), /--y: expected a numeric column/);
    expectOneLineError(silica(['plot', csv, '--x', 'a', '--y', 'b', '--mark', 'pie', '--out', fig]), /--mark: expected one of bar, line, point, got "pie"/);
    expect(existsSync(fig)).toBe(false);

    const bad = join(dir, 'bad.yaml');
    const out = join(dir, 'bad-out');
    writeFileSync(bad, 'kind: kernels\npoints:\n  - { op: gemm, m: 0, n: 1, k: 1 }\n');
    expectOneLineError(silica(['run', bad, '--out', out]), /bad\.yaml: points\.0\.m: .*got 0$/);
    writeFileSync(bad, 'kind: suite\nexperiments:\n  - { name: a, experiment: { kind: kernels, points: [{ op: gemm, m: 1, n: 1, k: 1, dtype: fp7 }] } }\n');
    expectOneLineError(silica(['run', bad, '--out', out]), /bad\.yaml: experiments\.0\.experiment\.points\.0\.dtype: .*"fp7"/);
    writeFileSync(bad, 'kind: kernels\nhw_overrides: { memory: { hbm: { efficency: 0.5 } } }\npoints: [{ op: stream, bytes: 1GiB }]\n');
    expectOneLineError(silica(['run', bad, '--out', out]), /hw_overrides\.memory\.hbm\.efficency: no such hardware field in mi300x/);
    expect(existsSync(out)).toBe(false);
  });

  it('npm start runs the quickstart experiment', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node dist/src/cli/main.js run configs/experiments/quickstart.yaml --out out/quickstart');
  });
});
