import '../../src/study/index.js';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { readableYaml } from '../../src/sweep/canonical.js';
import { decodeLines, pointTable, pointTableWithLead, type Row } from '../../src/sweep/results.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvedPointYaml, resolvedSweepHeader, resolvedSweepWritten, resolvedSweepYaml } from '../../src/sweep/resolved-yaml.js';
import { loadSweep, resolvedConfigOf } from '../../src/sweep/spec.js';
import { tempDir } from './helpers.js';

/**
 * The fast paths of sweep output must write exactly what the plain ones would: a point's rows
 * serialised with their lead (point, point_id, tags) written once, and config.resolved.yaml
 * rendered point by point.
 */
const lead: Row = { point: 7, point_id: 'abc', variant: 'nominal', tokens: 128 };

function same(rows: Row[], withLead: Row = lead): void {
  const fast = pointTableWithLead(withLead, rows);
  const plain = pointTable(rows.map((r) => ({ ...withLead, ...r })));
  expect(decodeLines(fast.jsonl)).toBe(decodeLines(plain.jsonl));
  expect(decodeLines(fast.csv)).toBe(decodeLines(plain.csv));
  expect(fast.columns).toEqual(plain.columns);
  expect(fast.rows).toBe(rows.length);
}

describe('point tables with a lead', () => {
  it('equal the merged rows for ordinary rows, numbers formatted as the CSV does', () => {
    same([
      { hw: 'mi300x', cus: 8, time_us: 353.33121592131005, tflops: 18.2, ok: true },
      { hw: 'mi300x', cus: 12, time_us: 1 / 3, tflops: 1e-9, ok: false },
    ]);
  });

  it('equal the merged rows when rows differ in columns, are empty, or hold quotes and commas', () => {
    same([{ a: 1 }, {}, { b: 'x,"y"\nz', a: 2 }, { c: 'é ∑ unicode' }]);
  });

  it('equal the merged rows when a row repeats a lead column, with the same value or another', () => {
    same([{ variant: 'nominal', x: 1 }, { x: 2 }]);
    same([{ x: 1, tokens: 128, variant: 'nominal' }, { tokens: 128 }, {}]);
    same([{ variant: 'other', x: 1 }]);
  });

  it('equal the merged rows when a key looks like an array index (objects order those first)', () => {
    same([{ x: 1, '8': 'eight' }]);
    same([{ x: 1 }], { ...lead, '3': 'three' });
  });

  it('are empty for no rows', () => {
    const t = pointTableWithLead(lead, []);
    expect(t.rows).toBe(0);
    expect(t.jsonl.length).toBe(0);
    expect(t.csv.length).toBe(0);
  });
});

describe('config.resolved.yaml rendered piece by piece', () => {
  it('renders a point entry by entry exactly as the whole document would', () => {
    const tricky = {
      kind: 'kernels',
      description: 'two\nlines\n',
      note: 'trailing  \n\n',
      quoted: 'yes',
      colon: 'a: b',
      hash: '# not a comment',
      empty_map: {},
      empty_list: [],
      nums: [1, 2.5, 1e21, -0, 0.1],
      nested: { a: [{ b: 1, c: ['x', 'y'] }, { d: null }], e: { f: { g: 'deep\nblock' } } },
      none: null,
    };
    const items = [
      { point: 0, point_id: '1234567890123456', tags: { variant: 'a b', m: 1, fast: true }, config: tricky },
      { point: 1, point_id: 'abcdef0123456789', tags: {}, config: {} },
      { point: 3, point_id: 'abc', tags: { gone: undefined }, config: { kind: 'kernels', gone: undefined } },
      { point: 2, point_id: '00000000000000e1', tags: { variant: 'nominal', 'odd key': 'x: y' }, config: { ...tricky, nums: [3] } },
    ];
    for (const item of [...items, ...items]) {
      const whole = readableYaml({ points: [item] });
      expect(resolvedPointYaml(item)).toBe(whole.slice(whole.indexOf('\n') + 1));
    }
  });

  it('renders lists of mappings entry by entry exactly as the whole document would (2,000 random configs)', () => {
    const rng = new Rng(21, 'lists-of-mappings');
    const leaves = [0, 1.5, -3, 1e21, 'gemm', 'two\nlines\n', 'a: b', '- dash', '# hash', '', 'yes', null, true, undefined, [1, 2], [], {}];
    const keys = ['op', 'm', 'n', 'odd key', 'x: y', 'points', 'hw_overrides', '0', 'kind'];
    const value = (depth: number): unknown => {
      const pick = rng.uniform();
      if (depth === 0 || pick < 0.45) return leaves[rng.int(0, leaves.length - 1)];
      if (pick < 0.75) return list(depth - 1);
      return mapping(depth - 1);
    };
    const mapping = (depth: number): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) out[keys[rng.int(0, keys.length - 1)]!] = value(depth);
      return out;
    };
    // Mostly lists of mappings (the case taken apart), sometimes with a scalar or an empty mapping among them.
    const list = (depth: number): unknown[] => Array.from({ length: rng.int(0, 3) }, () => (rng.uniform() < 0.85 ? mapping(depth) : leaves[rng.int(0, leaves.length - 1)]));
    for (let i = 0; i < 2000; i++) {
      const config = { kind: 'kernels', points: list(3), other: value(3) };
      const item = { point: i, point_id: 'abcdef0123456789', tags: { m: i }, config };
      const whole = readableYaml({ points: [item] });
      expect(resolvedPointYaml(item), JSON.stringify(config)).toBe(whole.slice(whole.indexOf('\n') + 1));
    }
  });

  it('writes every point id as the YAML library would, quoted where it reads as a number', () => {
    const rng = new Rng(21, 'point-ids');
    const ids = ['0000000000000000', '00000000000000e1', '1234567890123456', '12e4', 'e123', '1e', 'ee', 'abcdef0123456789', 'f', '0x1f'];
    for (let i = 0; i < 3000; i++) {
      const digits = i % 3 === 0 ? '0123456789e' : '0123456789abcdef';
      ids.push(Array.from({ length: rng.int(1, 16) }, () => digits[rng.int(0, digits.length - 1)]).join(''));
    }
    for (const id of ids) {
      const item = { point: 1, point_id: id, tags: {}, config: {} };
      const whole = readableYaml({ points: [item] });
      expect(resolvedPointYaml(item), id).toBe(whole.slice(whole.indexOf('\n') + 1));
    }
  });

  it('is the whole document rendered at once', () => {
    const spec = loadSweep('configs/sweeps/gemm-hw.yaml');
    for (const points of [spec.points, spec.points.slice(0, 1), []]) {
      const whole = {
        sweep: resolvedSweepHeader(spec),
        points: points.map((p) => ({ point: p.index, point_id: p.id, tags: p.tags, config: resolvedConfigOf(spec, p) })),
      };
      const pieces = [...resolvedSweepYaml(spec, points)];
      expect(pieces.join('')).toBe(`# Resolved sweep: every point's full experiment config (rerun one with silica run).\n${readableYaml(whole)}`);
    }
  });

  it('is recognised in a folder only where it is exactly what would be written (--resume keeps it)', () => {
    const spec = loadSweep('configs/sweeps/gemm-hw.yaml');
    const points = spec.points;
    const path = join(tempDir('resolved'), 'config.resolved.yaml');
    const text = [...resolvedSweepYaml(spec, points)].join('');
    const written = (t: string, pts = points, shard?: { index: number; count: number }) => {
      writeFileSync(path, t);
      return resolvedSweepWritten(path, spec, pts, shard);
    };
    expect(written(text)).toBe(true);
    expect(written(text.replace('mi300x', 'mi300y'))).toBe(false); // the header's or an item's text: the header differs here
    const last = text.lastIndexOf('\n  - point: ');
    expect(written(text.slice(0, last + 1))).toBe(false); // an item missing
    expect(written(text + text.slice(last + 1))).toBe(false); // an item repeated
    expect(written(text.slice(0, -1))).toBe(false); // the last line cut short
    expect(written(text.replace(`point_id: ${points[3]!.id}`, `point_id: ${points[4]!.id}`))).toBe(false);
    expect(written(text.replace(/^ {2}- point: 3$/m, '  - point: 33'))).toBe(false);
    expect(written(text, points.slice(1))).toBe(false); // other points selected
    expect(written(text, points, { index: 0, count: 1 })).toBe(false); // a shard's header names the shard
    expect(written(readableYaml({ sweep: resolvedSweepHeader(spec), points: [] }))).toBe(false);
  });
});
