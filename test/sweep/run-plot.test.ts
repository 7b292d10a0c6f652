import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, expectOneLineError, silica, silicaJson } from '../helpers/cli.js';
import { FIXTURES, read, svgInfo, tempDir } from './helpers.js';

describe('silica run and silica plot', () => {
  const dir = tempDir('run');

  it('runs the quickstart suite: tables, summary, resolved config and a valid figure', () => {
    // Other studies join the quickstart over time: check the kernels part and the layout only.
    const out = join(dir, 'quickstart');
    const r = silica(['run', 'configs/experiments/quickstart.yaml', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`tables:  ${join(out, 'results.csv')}`);
    // Figures are listed one per line under the label.
    const figures = r.stdout.slice(r.stdout.indexOf('  figures: ')).split('\n').filter((l) => l.endsWith('.svg'));
    expect(figures.map((l) => l.trim().replace(/^figures: /, ''))).toContain(join(out, 'kernels', 'kernels.svg'));
    const csv = read(join(out, 'results.csv')).trimEnd().split('\n');
    expect(csv[0]).toMatch(/^experiment,hw,kernel,op,.*time_us,tflops,achieved_gbps/);
    const kernelRows = csv.slice(1).filter((l) => l.startsWith('kernels,'));
    expect(kernelRows.length).toBe(6);
    expect(kernelRows.every((l) => l.startsWith('kernels,mi300x,'))).toBe(true);
    const summary = JSON.parse(read(join(out, 'summary.json')));
    expect(summary.kind).toBe('suite');
    expect(summary.files).toContain('kernels/kernels.svg');
    expect(summary.summary.kernels).toMatchObject({ hw: 'mi300x', kernels: 6 });
    const svg = svgInfo(read(join(out, 'kernels', 'kernels.svg')));
    expect(svg).toMatchObject({ valid: true, root: 'svg' });
    expect(svg.axes).toBeGreaterThanOrEqual(2);
    expect(svg.marks).toBe(kernelRows.length);
    expect([...svg.markKinds]).toEqual(['bar']);
    // Every figure the quickstart writes, whichever study drew it, is valid SVG with axes and marks.
    for (const f of summary.files.filter((f: string) => f.endsWith('.svg'))) {
      const info = svgInfo(read(join(out, f)));
      expect(info.valid && info.root === 'svg', f).toBe(true);
      expect(info.axes, f).toBeGreaterThanOrEqual(1);
      expect(info.marks, f).toBeGreaterThan(0);
    }

  });

  it('applies --set overlays, reports with --json, and its resolved config reruns to the same bytes', () => {
    const exp = join(dir, 'k.yaml');
    writeFileSync(exp, 'kind: kernels\nhw: mi300x\ncus: [64, 304]\npoints:\n  - { op: stream, stream: copy, bytes: 1GiB }\n  - { op: gemm, m: 512, n: 512, k: 512 }\n');
    const out = join(dir, 'k');
    const r = silicaJson<{ rows: number; tables: string[]; figures: string[] }>(['run', exp, '--out', out, '--set', 'hw=h100-sxm', '--set', 'cus=[66, 132]']);
    expect(r.rows).toBe(4);
    expect(r.figures).toEqual([join(out, 'kernels.svg')]);
    expect(read(join(out, 'results.csv'))).toMatch(/^h100-sxm,stream_copy_1GiB,stream_copy,fp64,,,,,1073741824,66,/m);
    const figure = svgInfo(read(join(out, 'kernels.svg')));
    expect(figure).toMatchObject({ valid: true, root: 'svg', marks: 2 + 4 }); // two lines and their four points
    const again = join(dir, 'k-again');
    expect(silica(['run', join(out, 'config.resolved.yaml'), '--out', again]).code).toBe(0);
    for (const f of ['results.csv', 'results.jsonl', 'kernels.svg']) expect(read(join(again, f)), f).toBe(read(join(out, f)));
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

  it('starts a linear y axis at zero unless --no-y-zero fits it to the data, which bars refuse', () => {
    // Speedups of 1.2-1.4 read as flat on an axis from zero.
    const csv = join(dir, 'speedup.csv');
    writeFileSync(csv, 'x,y\n1,1.21\n2,1.33\n3,1.39\n');
    const svgOf = (flags: string[]) => {
      const fig = join(dir, `speedup${flags.join('')}.svg`);
      const r = silica(['plot', csv, '--x', 'x', '--y', 'y', '--mark', 'line', ...flags, '--out', fig]);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(fig, 'utf8');
    };
    const zeroTick = /<text[^>]*>0(\.0)?<\/text>/;
    expect(svgOf([])).toMatch(zeroTick);
    const fitted = svgOf(['--no-y-zero']);
    expect(fitted).not.toMatch(zeroTick);
    expect(svgInfo(fitted).valid).toBe(true);
    expectOneLineError(silica(['plot', csv, '--x', 'x', '--y', 'y', '--mark', 'bar', '--no-y-zero', '--out', join(dir, 'speedup-bar.svg')]), /--no-y-zero: not with --mark bar/);
    expect(existsSync(join(dir, 'speedup-bar.svg'))).toBe(false);
  });

  it('aggregates rows into one mark per x and colour, and plots only the rows a --filter keeps', () => {
    // Three rows per (x, series): y is 1, 2 and 300.
    const csv = join(dir, 'agg.csv');
    const lines = ['x,series,y'];
    for (const x of [1, 2, 3]) for (const series of ['a', 'b']) for (const y of [1, 2, 300]) lines.push(`${x},${series},${y}`);
    writeFileSync(csv, lines.join('\n') + '\n');
    const plot = (flags: string[]) => {
      const fig = join(dir, `agg-${flags.join('-').replace(/[^\w-]/g, '_')}.svg`);
      const r = silica(['plot', csv, '--x', 'x', '--y', 'y', '--color', 'series', '--mark', 'point', ...flags, '--out', fig, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const svg = readFileSync(fig, 'utf8');
      return { ...svgInfo(svg), svg, rows: (JSON.parse(r.stdout) as { rows: number }).rows };
    };
    expect(plot([]).marks).toBe(18);
    expect(plot(['--aggregate', 'mean']).marks).toBe(6);
    expect(plot(['--filter', 'series=a']).marks).toBe(9);
    expect(plot(['--filter', 'series=a', '--filter', 'x=2.0', '--aggregate', 'max'])).toMatchObject({ marks: 1, rows: 3 });
    // The aggregate reaches the figure: the y axis runs to the largest y under max, to about 1 under min.
    const tick = (svg: string) => Math.max(...[...svg.matchAll(/<text[^>]*>([\d.,]+)<\/text>/g)].map((m) => Number(m[1]!.replace(/,/g, ''))));
    expect(tick(plot(['--aggregate', 'max']).svg)).toBeGreaterThanOrEqual(300);
    expect(tick(plot(['--aggregate', 'min']).svg)).toBeLessThan(4); // x ticks stop at 3
    const fig = join(dir, 'agg-bad.svg');
    expectOneLineError(silica(['plot', csv, '--x', 'x', '--y', 'y', '--aggregate', 'average', '--out', fig]), /--aggregate: expected one of mean, median, min, max, sum, got "average"/);
    expectOneLineError(silica(['plot', csv, '--x', 'x', '--y', 'y', '--filter', 'series', '--out', fig]), /--filter: expected COL=VALUE \(e\.g\. variant=nominal\), got "series"/);
    expectOneLineError(silica(['plot', csv, '--x', 'x', '--y', 'y', '--filter', 'hw=mi300x', '--out', fig]), /agg\.csv: --filter hw=mi300x: expected one of the columns \(x, series, y\), got "hw"/);
    expectOneLineError(silica(['plot', csv, '--x', 'x', '--y', 'y', '--filter', 'series=c', '--out', fig]), /agg\.csv: --filter: no row has series=c; series holds a, b$/);
    expectOneLineError(silica(['plot', csv, '--x', 'x', '--y', 'y', '--filter', 'series=a', '--filter', 'x=9', '--out', fig]), /agg\.csv: --filter: no row has x=9 among those the filters before it keep; x holds 1, 2, 3$/);
    expect(existsSync(fig)).toBe(false);
  });

  it('silica run refuses a sweep folder (its ledger would sit beside the run\'s tables)', () => {
    const sweepDir = join(dir, 'a-sweep');
    expect(silica(['sweep', join(ROOT, 'configs', 'sweeps', 'gemm-hw.yaml'), '--out', sweepDir, '--quiet']).code).toBe(0);
    const before = readFileSync(join(sweepDir, 'results.csv'), 'utf8');
    expectOneLineError(silica(['run', join(ROOT, 'configs', 'experiments', 'quickstart.yaml'), '--out', sweepDir]), /^silica: --out \S*a-sweep: holds a sweep's outputs \(points\.jsonl\); a run writes to a folder of its own$/);
    expect(readFileSync(join(sweepDir, 'results.csv'), 'utf8')).toBe(before);
  });

  it('silica sweep and silica merge refuse a run\'s folder (its figures would sit beside the sweep\'s tables)', () => {
    const runDir = join(dir, 'a-run');
    const exp = join(dir, 'one-gemm.yaml');
    writeFileSync(exp, 'kind: kernels\nhw: mi300x\nfigure: false\npoints: [{ op: gemm, m: 64, n: 64, k: 64 }]\n');
    expect(silica(['run', exp, '--out', runDir, '--quiet']).code).toBe(0);
    const before = readFileSync(join(runDir, 'config.resolved.yaml'), 'utf8');
    expectOneLineError(silica(['sweep', join(ROOT, 'configs', 'sweeps', 'gemm-hw.yaml'), '--out', runDir, '--quiet']), /^silica: --out \S*a-run: holds a run's outputs \(config\.resolved\.yaml of silica run\); a sweep writes to a folder of its own$/);
    const sweepDir = join(dir, 'a-sweep-to-merge');
    expect(silica(['sweep', join(ROOT, 'configs', 'sweeps', 'gemm-hw.yaml'), '--out', sweepDir, '--quiet']).code).toBe(0);
    expectOneLineError(silica(['merge', sweepDir, '--out', runDir]), /^silica: --out \S*a-run: holds a run's outputs \(config\.resolved\.yaml of silica run\); a merge writes to a folder of its own$/);
    expect(readFileSync(join(runDir, 'config.resolved.yaml'), 'utf8')).toBe(before);
    expect(existsSync(join(runDir, 'points.jsonl'))).toBe(false);
  });

  it('--log-y says how many rows it leaves out (zero or negative y)', () => {
    const csv = join(dir, 'signs.csv');
    writeFileSync(csv, 'x,y\n1,0\n2,-5\n3,10\n4,20\n');
    const fig = join(dir, 'signs.svg');
    const r = silica(['plot', csv, '--x', 'x', '--y', 'y', '--log-y', '--out', fig]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('silica plot: note: --log-y leaves out 2 of 4 rows, whose y is zero or negative\n');
    expect(svgInfo(readFileSync(fig, 'utf8')).marks).toBe(2);
    expect(silica(['plot', csv, '--x', 'x', '--y', 'y', '--out', fig]).stderr).toBe('');
  });

  it('rows with an empty x or y are left out and counted, never drawn at 0', () => {
    // As a kernels sweep across parts writes board_power_w: empty on a part without a power model.
    const csv = join(dir, 'empty-cells.csv');
    writeFileSync(csv, 'hw,m,w\nmi300x,1,\nmi300x,2,\nh100-sxm,1,500\nh100-sxm,2,690\n');
    const byM = join(dir, 'empty-y.svg');
    const r = silica(['plot', csv, '--x', 'm', '--y', 'w', '--out', byM, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('silica plot: note: 2 of 4 rows have no w (an empty cell: the column does not apply to them) and are left out\n');
    expect((JSON.parse(r.stdout) as { rows: number }).rows).toBe(2);
    expect(svgInfo(readFileSync(byM, 'utf8')).marks).toBe(2);
    // The same column on x: its empty cells would read as 0 W on a numeric axis.
    const byW = join(dir, 'empty-x.svg');
    const s = silica(['plot', csv, '--x', 'w', '--y', 'm', '--out', byW]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toBe('silica plot: note: 2 of 4 rows have no w (an empty cell) and are left out\n');
    const svg = readFileSync(byW, 'utf8');
    expect(svgInfo(svg).marks).toBe(2);
    expect(svg).not.toMatch(/aria-label="w: 0;/);
    expectOneLineError(silica(['plot', csv, '--x', 'w', '--y', 'm', '--filter', 'hw=mi300x', '--out', join(dir, 'no-x.svg')]), /empty-cells\.csv: --x: expected a value in some row that has m, got only empty cells of "w" there$/);
    expect(existsSync(join(dir, 'no-x.svg'))).toBe(false);
  });

  it('plot: a log axis with nothing to draw, and a column named twice, are one line naming the file', () => {
    const fig = join(dir, 'refused.svg');
    const neg = join(dir, 'neg.csv');
    writeFileSync(neg, 'a,b\n1,0\n2,-3\n');
    expectOneLineError(silica(['plot', neg, '-x', 'a', '-y', 'b', '--log-y', '--out', fig]), /^silica: \S*neg\.csv: --log-y: column "b" has no positive values to plot$/);
    const twice = join(dir, 'twice.csv');
    writeFileSync(twice, 'a,a\n1,2\n');
    expectOneLineError(silica(['plot', twice, '-x', 'a', '-y', 'a', '--out', fig]), /^silica: \S*twice\.csv: header: expected distinct column names, got "a" twice \(columns 1 and 2\)$/);
    expect(existsSync(fig)).toBe(false);
  });

  it('bad plot and run input: one-line errors, no file written', () => {
    const csv = join(dir, 't.csv');
    writeFileSync(csv, 'a,b,name\n1,2,x\n2,0,y\n');
    const fig = join(dir, 'bad.svg');
    expectOneLineError(silica(['plot', csv, '--x', 'a', '--y', 'nope', '--out', fig]), /t\.csv: --y: expected one of the columns \(a, b, name\), got "nope"/);
    expectOneLineError(silica(['plot', csv, '--x', 'a', '--y', 'name', '--out', fig]), /t\.csv: --y: expected a numeric column, "name", got "x" \(row 1\)$/);
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
    writeFileSync(bad, 'kind: kernels\nhw: mi100\npoints: [{ op: gemm, m: 8, n: 8, k: 8 }, { op: gemm, m: 8, n: 8, k: 8, dtype: fp8 }]\n');
    expectOneLineError(silica(['run', bad, '--out', out]), /bad\.yaml: points\.1\.dtype: mi100 has no fp8 rate \(expected one of .*\), got fp8$/);
    expect(existsSync(out)).toBe(false);
    // --set names a field the file leaves to its default, or one no kind knows, or a list entry that is not there.
    writeFileSync(bad, 'kind: kernels\nfigure: false\npoints: [{ op: gemm, m: 64, n: 64, k: 64 }]\n');
    expectOneLineError(silica(['run', bad, '--out', out, '--set', 'cuss=[8]']), /bad\.yaml: \(top level\): expected no unknown fields \(cuss\); known: .*\bcus\b/);
    expectOneLineError(silica(['run', bad, '--out', out, '--set', 'points.1.m=8']), /--set points\.1\.m: no entry 1 in points of .*bad\.yaml \(it has 1\)$/);
    expect(existsSync(out)).toBe(false);
    const set = silicaJson<{ rows: number }>(['run', bad, '--out', out, '--json', '--set', 'cus=[8, 16]', '--set', 'hw_overrides.compute.cus=152']);
    expect(set.rows).toBe(2);
    expect(read(join(out, 'config.resolved.yaml'))).toMatch(/cus: 152/);
  });

  it('npm start runs the quickstart experiment', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node dist/bundle/main.js run configs/experiments/quickstart.yaml --out out/quickstart');
  });
});
