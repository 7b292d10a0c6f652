import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pointTable, scanJsonl, type Row } from '../../src/sweep/results.js';
import { pointsByLedger, pointsByRows, readCompleted, readPointRows, type LedgerEntry } from '../../src/sweep/completed.js';
import { roundTree } from '../../src/core/io.js';
import { removeLeftoverTemporaries, SweepWriter, writeSweepSummary, type PointRecord } from '../../src/sweep/store.js';
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

  it('never has a ledger line on disk before its rows, however appends are gathered into writes; close writes the rest', () => {
    const dir = tempDir('store');
    const writer = new SweepWriter(dir, []);
    const lines = (file: string) => (statSync(join(dir, file), { throwIfNoEntry: false }) ? readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean) : []);
    const ledgered = () => lines('points.jsonl').map((l) => (JSON.parse(l) as LedgerEntry).point);
    for (let i = 0; i < 40; i++) {
      writer.append(entry(i, 2), pointTable(rowsOf(i)));
      // Read raw, not through readCompleted (which would hide a ledger line whose rows are missing).
      const rowsByPoint = new Map<number, number>();
      for (const l of lines('results.jsonl')) {
        const point = (JSON.parse(l) as Row).point as number;
        rowsByPoint.set(point, (rowsByPoint.get(point) ?? 0) + 1);
      }
      const csvRows = Math.max(0, lines('results.csv').length - 1);
      for (const p of ledgered()) expect(rowsByPoint.get(p)).toBe(2);
      expect(csvRows).toBeGreaterThanOrEqual(2 * ledgered().length);
    }
    // The first point is written at once (no write came before it); the rest may wait.
    expect(ledgered().length).toBeGreaterThanOrEqual(1);
    writer.close();
    expect(readCompleted(dir).points).toHaveLength(40);
    expect(files(dir)).toEqual(files(write(Array.from({ length: 40 }, (_, i) => i)).dir));
  });

  it('writes a point\'s ledger line only after its rows: a write that fails on the tables leaves no ledger line', () => {
    const dir = tempDir('store');
    const writer = new SweepWriter(dir, []);
    // A folder where results.csv should be: the CSV cannot be opened, as a kill mid-write would leave it unwritten.
    rmSync(join(dir, 'results.csv'), { force: true });
    mkdirSync(join(dir, 'results.csv'));
    expect(() => writer.append(entry(0, 2), pointTable(rowsOf(0)))).toThrow();
    expect(readFileSync(join(dir, 'points.jsonl'), 'utf8')).toBe('');
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

describe('sweep folder reading', () => {
  it('scans JSONL a chunk at a time: lines across chunk ends, longer than a chunk, cut short or broken', () => {
    const dir = tempDir('scan');
    const path = join(dir, 'rows.jsonl');
    const lines = [{ a: 1 }, { b: 'x'.repeat(40) }, { c: [1, 2, 3] }, { d: 'é' }].map((r) => JSON.stringify(r) + '\n');
    writeFileSync(path, lines[0]! + lines[1]! + 'not json\n' + lines[2]! + '\n' + lines[3]! + '{"cut":');
    for (const chunk of [7, 16, 1 << 20]) {
      const seen: Array<[unknown, number, number]> = [];
      const { dropped } = scanJsonl(path, (record, start, end) => seen.push([record, start, end]), chunk);
      expect(seen.map((s) => s[0])).toEqual([{ a: 1 }, { b: 'x'.repeat(40) }, { c: [1, 2, 3] }, { d: 'é' }]);
      expect(dropped).toBe(2); // the broken line and the cut last line
      const bytes = readFileSync(path);
      for (const [record, start, end] of seen) expect(JSON.parse(bytes.subarray(start, end).toString('utf8'))).toEqual(record);
    }
  });

  it('resuming cuts a killed folder back to its complete points, as a full rewrite would', () => {
    // A cell with a comma, quotes and a newline: the CSV's rows are not its lines.
    const noted = (i: number) => rowsOf(i, { note: `a,"b"\nc${i}` });
    const { dir } = write([0, 1, 2, 3], noted);
    const clean = files(dir);
    // A kill mid-point: point 4's rows half written, its ledger line not yet.
    appendFileSync(join(dir, 'results.jsonl'), JSON.stringify(noted(4)[0]) + '\n{"point":4,"poi');
    appendFileSync(join(dir, 'results.csv'), '4,id4,a,0,7.5,"a,""b""\nc4"\n4,id4');
    const inode = (f: string) => statSync(join(dir, f)).ino;
    const before = ['results.jsonl', 'results.csv', 'points.jsonl'].map(inode);
    const resumed = new SweepWriter(dir, readCompleted(dir).points);
    expect(files(dir)).toEqual(clean);
    // Cut in place, not rewritten: the same files.
    expect(['results.jsonl', 'results.csv', 'points.jsonl'].map(inode)).toEqual(before);
    expect(resumed.points().map((p) => p.entry.point)).toEqual([0, 1, 2, 3]);
    // Out of order on disk (a resumed folder with gaps): rewritten, sorted, from the rows on disk.
    const gaps = write([0, 1, 3], rowsOf);
    const g = new SweepWriter(gaps.dir, readCompleted(gaps.dir).points);
    g.append(entry(2, 2), pointTable(rowsOf(2)));
    g.flush();
    expect(files(gaps.dir)).toEqual(files(write([0, 1, 2, 3]).dir));
    expect(readPointRows(readCompleted(gaps.dir).points[2]!)).toEqual(rowsOf(2));
  });
});

describe('sweep folder reading through the ledger', () => {
  const ledgerOf = (dir: string) => readFileSync(join(dir, 'points.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as LedgerEntry);

  it('finds the same points as reading every row, in every layout the writer leaves', () => {
    const noted = (i: number) => rowsOf(i, { note: `a,"b"\nc${i}` });
    const layouts: Record<string, () => string> = {
      'in order': () => write([0, 1, 2, 3, 4]).dir,
      'a new column': () => write([0, 1, 2, 3], (i) => (i === 2 ? rowsOf(i, { extra_col: 7 }) : rowsOf(i))).dir,
      'quoted cells': () => write([0, 1, 2], noted).dir,
      'points without rows': () => write([0, 1, 2], (i) => (i === 1 ? [] : rowsOf(i))).dir,
      'killed mid-point': () => {
        const { dir } = write([0, 1, 2]);
        appendFileSync(join(dir, 'results.jsonl'), JSON.stringify(rowsOf(3)[0]) + '\n{"point":3,"poi');
        return dir;
      },
      'appended out of order (not yet flushed)': () => {
        const { dir, writer } = write([0, 1, 3]);
        writer.append(entry(2, 2), pointTable(rowsOf(2)));
        writer.close();
        return dir;
      },
    };
    for (const [name, make] of Object.entries(layouts)) {
      const dir = make();
      const file = join(dir, 'results.jsonl');
      const byLedger = pointsByLedger(file, ledgerOf(dir));
      expect(byLedger, name).toBeDefined();
      expect(byLedger, name).toEqual(pointsByRows(file, ledgerOf(dir)));
    }
  });

  it('leaves other layouts, and ledgers of earlier versions, to reading every row', () => {
    const { dir } = write([0, 1, 2]);
    const file = join(dir, 'results.jsonl');
    const ledger = ledgerOf(dir);
    // No columns (written before the ledger recorded them): every row is read, with the same result.
    const old = ledger.map(({ columns: _, ...e }) => e);
    expect(pointsByLedger(file, old)).toBeUndefined();
    expect(pointsByRows(file, old).map((p) => [p.entry.point, p.columns, p.ranges])).toEqual(pointsByRows(file, ledger).map((p) => [p.entry.point, p.columns, p.ranges]));
    // Such a folder rewritten (merged, say) has its columns recorded, and reads through the ledger.
    const earlier = write([0, 1, 2]).dir;
    writeFileSync(join(earlier, 'points.jsonl'), old.map((e) => JSON.stringify(e) + '\n').join(''));
    const rewritten = tempDir('store-rewritten');
    new SweepWriter(rewritten, readCompleted(earlier).points);
    expect(files(rewritten)).toEqual(files(dir));
    expect(pointsByLedger(join(rewritten, 'results.jsonl'), ledgerOf(rewritten))).toBeDefined();
    // A point listed twice, or a ledger whose order is not the rows' order.
    expect(pointsByLedger(file, [...ledger, ledger[1]!])).toBeUndefined();
    expect(pointsByLedger(file, [ledger[1]!, ledger[0]!, ledger[2]!])).toBeUndefined();
    // A row that is not its point's: a line in the middle names another point.
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"point_id":"id1"', '"point_id":"id9"');
    writeFileSync(file, lines.join('\n'));
    expect(pointsByLedger(file, ledger)).toBeUndefined();
    expect(readCompleted(dir).points.map((p) => p.entry.point)).toEqual([0, 2]);
  });
});

describe('sweep writer, rewriting from other folders (silica merge)', () => {
  it('copies CSV lines that line up with results.jsonl and formats the others from the rows', () => {
    // Point 3 brings a column: the odd points' CSV has it, the even points' CSV does not.
    const withNew = (i: number) => (i === 3 ? rowsOf(i, { extra_col: 7 }) : rowsOf(i));
    const evens = readCompleted(write([0, 2, 4], withNew).dir).points;
    const odds = readCompleted(write([1, 3], withNew).dir).points;
    expect([...evens, ...odds].every((p) => p.csv)).toBe(true);
    const merged = tempDir('store-merged');
    new SweepWriter(merged, [...evens, ...odds]);
    expect(files(merged)).toEqual(files(write([0, 1, 2, 3, 4], withNew).dir));
  });

  it('does not copy from a CSV that does not line up with its results.jsonl', () => {
    const noted = (i: number) => rowsOf(i, { note: `a,"b"\nc${i}` });
    const reference = files(write([0, 1, 2], noted).dir);
    // A line of point 2 that names another point; then a CSV one row short.
    for (const edit of [(csv: string) => csv.replace('\n2,id2,', '\n9,id9,'), (csv: string) => csv.slice(0, csv.lastIndexOf('\n2,id2,') + 1)]) {
      const { dir } = write([0, 1, 2], noted);
      const path = join(dir, 'results.csv');
      writeFileSync(path, edit(readFileSync(path, 'utf8')));
      const points = readCompleted(dir).points;
      expect(points.some((p) => p.csv)).toBe(false);
      const again = tempDir('store-again');
      new SweepWriter(again, points);
      expect(files(again)).toEqual(reference);
      // Resuming in place rewrites the CSV from the rows too.
      new SweepWriter(dir, points);
      expect(files(dir)).toEqual(reference);
    }
  });
});

describe('sweep writer, points without rows', () => {
  it('merges and rewrites folders whose points have no rows (no results.jsonl to read)', () => {
    const none = write([1, 0], () => []);
    expect(readCompleted(none.dir).points.map((p) => p.entry.point)).toEqual([0, 1]);
    const again = new SweepWriter(tempDir('store-none'), readCompleted(none.dir).points);
    expect(again.points().map((p) => p.entry.rows)).toEqual([0, 0]);
  });
});

describe('sweep summary', () => {
  const header = { sweep: 's', source: 's.yaml', points_total: 5, shard: '1/2' };
  const record = (i: number, summary?: Record<string, unknown>): PointRecord => ({
    entry: { point: i, point_id: `id${i}`, rows: i, tags: { hw: i % 2 ? 'mi300x' : 'h100-sxm', m: 1024 * i, note: 'a "quoted"\nline' }, ...(summary ? { summary } : {}) },
    columns: i === 3 ? ['point', 'late'] : ['point', 'time_us'],
  });

  it('writes the text of the whole summary at once, one point summary at a time', () => {
    const dir = tempDir('summary');
    const points = [record(0, { max_tflops: 1 / 3, nested: { a: [1, 2.123456789], b: {} } }), record(1), record(3, { kernels: 2, empty: [] }), record(4, { x: -0, y: 1e21 })];
    const returned = writeSweepSummary(dir, header, points);
    const whole = {
      ...header,
      points: 4,
      rows: 8,
      columns: ['point', 'time_us', 'late'],
      point_summaries: points.filter((p) => p.entry.summary).map((p) => ({ point: p.entry.point, point_id: p.entry.point_id, ...p.entry.tags, ...p.entry.summary })),
    };
    expect(readFileSync(join(dir, 'summary.json'), 'utf8')).toBe(JSON.stringify(roundTree(whole), null, 2) + '\n');
    expect(returned).toEqual({ ...header, points: 4, rows: 8, columns: ['point', 'time_us', 'late'] });
  });

  it('has no point_summaries where no point has a summary', () => {
    const dir = tempDir('summary');
    writeSweepSummary(dir, header, [record(1), record(2)]);
    expect(readFileSync(join(dir, 'summary.json'), 'utf8')).toBe(JSON.stringify({ ...header, points: 2, rows: 3, columns: ['point', 'time_us'] }, null, 2) + '\n');
  });
});

describe('sweep folder debris', () => {
  it('removes the temporary files of a killed sweep, and nothing else', () => {
    const dir = tempDir('debris');
    // A pid above the kernel's limit (4194304) is never a running process.
    const names = ['config.resolved.yaml.tmp-99999999', 'results.csv.tmp-99999999', `summary.json.tmp-${process.pid}`, 'notes.txt.tmp-99999999', 'results.csv'];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    removeLeftoverTemporaries(dir);
    expect(readdirSync(dir).sort()).toEqual(['notes.txt.tmp-99999999', 'results.csv', `summary.json.tmp-${process.pid}`]);
  });
});
