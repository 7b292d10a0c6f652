import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pointTable, type Row } from '../../src/sweep/results.js';
import { SweepWriter, readCompleted, type LedgerEntry } from '../../src/sweep/store.js';
import { tempDir } from './helpers.js';

/** Rows of point i: two rows, tagged like a sweep tags them. */
function rowsOf(i: number, extra: Row = {}): Row[] {
  return [0, 1].map((r) => ({ point: i, point_id: `id${i}`, variant: i % 2 ? 'b' : 'a', row: r, time_us: (i + 1) * 1.5 + r / 3, ...extra }));
}

function entry(i: number, rows: number): LedgerEntry {
  return { point: i, point_id: `id${i}`, rows };
}

function files(dir: string): Record<string, string> {
  return Object.fromEntries(['results.jsonl', 'results.csv', 'points.jsonl'].map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

function write(order: number[], rowsFor: (i: number) => Row[] = rowsOf): { dir: string; writer: SweepWriter } {
  const dir = tempDir('store');
  const writer = new SweepWriter(dir, []);
  for (const i of order) {
    const rows = rowsFor(i);
    writer.append(entry(i, rows.length), pointTable(rows));
  }
  writer.flush();
  return { dir, writer };
}

describe('sweep writer', () => {
  it('writes the same sorted files whatever order points arrive in', () => {
    const inOrder = write([0, 1, 2, 3, 4]);
    const shuffled = write([3, 0, 4, 2, 1]);
    expect(files(shuffled.dir)).toEqual(files(inOrder.dir));
    expect(readCompleted(inOrder.dir).points.map((p) => p.entry.point)).toEqual([0, 1, 2, 3, 4]);
    expect(inOrder.writer.points().map((p) => p.entry.rows)).toEqual([2, 2, 2, 2, 2]);
  });

  it('keeps rows whose columns differ: a later new column joins the CSV header at flush', () => {
    const withNew = (i: number) => (i === 2 ? rowsOf(i, { extra_col: 7 }) : rowsOf(i));
    const { dir, writer } = write([0, 1, 2, 3], withNew);
    const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('point,point_id,variant,row,time_us,extra_col');
    expect(csv).toHaveLength(1 + 8);
    expect(csv[5]).toMatch(/,7$/); // point 2, first row
    expect(csv[1]).toMatch(/,$/); // point 0 has no extra_col
    expect(writer.points().find((p) => p.entry.point === 2)!.columns).toContain('extra_col');
  });

  it('renders a point with fewer or reordered columns under the header it started with', () => {
    const reordered = (i: number) => (i === 1 ? rowsOf(i).map(({ time_us, ...rest }) => ({ time_us, ...rest })) : rowsOf(i));
    const { dir } = write([0, 1, 2], reordered);
    const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('point,point_id,variant,row,time_us');
    expect(csv[3]).toBe('1,id1,b,0,3');
    expect(files(dir)['results.csv']).toBe(files(write([0, 1, 2]).dir)['results.csv']);
  });
});
