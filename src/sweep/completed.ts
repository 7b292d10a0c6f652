import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { csvCell } from '../core/io.js';
import { csvHeader, readJsonl, rowsOfJsonl, scanJsonl, scanLines, type Row } from './results.js';

/**
 * Reading a sweep folder (its layout and how it is written: store.ts): which points are complete,
 * and where their rows lie in its tables. What `--resume` keeps, and what `silica merge` and a
 * rewrite copy, byte range by byte range: rows are never all read into memory (a large sweep's
 * tables outgrow it, and V8's longest string, 512 MiB).
 */
/** The files of a sweep folder, by role (store.ts says what each holds). */
export const SWEEP_FILES = { results: 'results.jsonl', csv: 'results.csv', ledger: 'points.jsonl', config: 'config.resolved.yaml', summary: 'summary.json' } as const;

/** One line of the ledger, points.jsonl: a completed point. */
export interface LedgerEntry {
  point: number;
  point_id: string;
  rows: number;
  tags?: Record<string, string | number | boolean>;
  summary?: Record<string, unknown>;
  /**
   * The point's columns, in order of first appearance: with them a reader finds the point's rows
   * without parsing them (pointsByLedger). Written by SweepWriter.append; folders of earlier
   * versions lack them.
   */
  columns?: string[];
}

/**
 * A complete point as it lies in a folder: its ledger entry, its columns, and where its rows are in
 * that folder's results.jsonl (byte ranges of whole lines, in order). The rows themselves stay on
 * disk: a large sweep's tables do not fit in memory, nor in one string.
 */
export interface CompletedPoint {
  entry: LedgerEntry;
  /** The point's columns, in order of first appearance. */
  columns: string[];
  /** The results.jsonl holding its rows. */
  file: string;
  ranges: Array<[start: number, end: number]>;
  /**
   * Where its rows are in the same folder's results.csv, when that file lines up with
   * results.jsonl (see csvLinesOf): the CSV header's columns and the byte range of the point's
   * lines. A rewrite over the same columns copies these bytes instead of formatting every row again.
   */
  csv?: { file: string; columns: readonly string[]; start: number; end: number };
}

export function isEntry(v: unknown): v is LedgerEntry {
  const e = v as LedgerEntry;
  return !!e && typeof e === 'object' && typeof e.point_id === 'string' && Number.isInteger(e.point) && Number.isInteger(e.rows);
}

/**
 * The complete points recorded in a sweep folder, sorted by point index; with the ledger's entries
 * as read (complete or not) and how many of its whole lines were no entry, which no kill leaves.
 */
export function readCompleted(dir: string): { points: CompletedPoint[]; ledger: LedgerEntry[]; unreadableLines: number } {
  const read = readJsonl(join(dir, SWEEP_FILES.ledger));
  const ledger = read.records.filter(isEntry);
  // Held for every point: entries with the same columns as the one before share its list.
  let columns: string[] | undefined;
  for (const e of ledger) {
    if (!Array.isArray(e.columns)) continue;
    if (columns && sameList(columns, e.columns)) e.columns = columns;
    else columns = e.columns;
  }
  const file = join(dir, SWEEP_FILES.results);
  const points = pointsByLedger(file, ledger) ?? pointsByRows(file, ledger);
  points.sort((a, b) => a.entry.point - b.entry.point);
  csvLinesOf(dir, points);
  return { points, ledger, unreadableLines: read.damaged + read.records.length - ledger.length };
}

/**
 * The complete points, found by reading every row: a ledger entry counts when exactly as many rows
 * of its point_id are in results.jsonl as it says (the first entry of a point_id counts, repeats
 * are ignored). Works whatever the layout; reads each row once to learn its point and columns.
 */
export function pointsByRows(file: string, ledger: readonly LedgerEntry[]): CompletedPoint[] {
  const found = new Map<string, { rows: number; columns: Set<string>; ranges: Array<[number, number]> }>();
  scanJsonl(file, (row, start, end) => {
    const id = row && typeof row === 'object' ? (row as Row).point_id : undefined;
    if (typeof id !== 'string') return;
    let f = found.get(id);
    if (!f) found.set(id, (f = { rows: 0, columns: new Set(), ranges: [] }));
    f.rows++;
    for (const key of Object.keys(row as Row)) f.columns.add(key);
    const last = f.ranges[f.ranges.length - 1];
    if (last && last[1] === start) last[1] = end;
    else f.ranges.push([start, end]);
  });
  const points: CompletedPoint[] = [];
  const seen = new Set<string>();
  for (const entry of ledger) {
    if (seen.has(entry.point_id)) continue;
    const f = found.get(entry.point_id);
    if ((f?.rows ?? 0) !== entry.rows) continue;
    seen.add(entry.point_id);
    points.push({ entry, columns: f ? [...f.columns] : [], file, ranges: f?.ranges ?? [] });
  }
  return points;
}

/**
 * The complete points found through the ledger, without parsing a row: where results.jsonl holds,
 * in ledger order, each entry's rows (as many lines as it says, each a JSON object starting with
 * that point's `{"point":N,"point_id":"ID"`), then at most lines of a point the ledger does not list
 * (one a kill interrupted). That is the layout appending leaves, finished or killed, and the one
 * merging and rewriting write, so resuming and merging a large folder cost about a read of it
 * rather than a JSON parse of every row. Undefined for any other layout, a repeated point_id, or
 * entries without their columns (folders of earlier versions): pointsByRows reads those.
 */
export function pointsByLedger(file: string, ledger: readonly LedgerEntry[]): CompletedPoint[] | undefined {
  if (!ledger.every((e) => Array.isArray(e.columns) && e.columns.every((c) => typeof c === 'string'))) return undefined;
  if (new Set(ledger.map((e) => e.point_id)).size !== ledger.length) return undefined;
  const points: CompletedPoint[] = [];
  let k = 0; // the ledger entry whose rows come next
  let left = 0; // rows of entry k still to come
  let lead = Buffer.alloc(0);
  let start = 0; // where entry k's rows start in the file
  let end = 0; // where the last complete point's rows end
  // Entries are taken in turn; those with no rows complete at once.
  const next = () => {
    for (; k < ledger.length && ledger[k]!.rows === 0; k++) points.push({ entry: ledger[k]!, columns: ledger[k]!.columns!, file, ranges: [] });
    if (k < ledger.length) {
      left = ledger[k]!.rows;
      lead = Buffer.from(`{"point":${JSON.stringify(ledger[k]!.point)},"point_id":${JSON.stringify(ledger[k]!.point_id)}`, 'utf8');
      start = end;
    }
  };
  next();
  let ok = true;
  // Every line from the first is one of entry k's rows (so each point's rows are contiguous), until
  // the ledger's points are all found.
  scanLines(file, (bytes, from, to, fileStart) => {
    if (!ok || k === ledger.length) return;
    const follows = bytes[from + lead.length]; // ',' or '}' after the lead
    if (to - from < lead.length + 2 || bytes.compare(lead, 0, lead.length, from, from + lead.length) !== 0 || (follows !== 44 && follows !== 125) || bytes[to - 2] !== 125) ok = false;
    else if (--left === 0) {
      end = fileStart + (to - from);
      points.push({ entry: ledger[k]!, columns: ledger[k]!.columns!, file, ranges: [[start, end]] });
      k++;
      next();
    }
  });
  return ok && k === ledger.length ? points : undefined;
}

/**
 * Whether the points' rows are the first lines of their results.jsonl, in point order, with
 * nothing between them: the layout appending in order leaves, and a kill leaves too (then followed
 * by at most part of an unfinished point).
 */
export function leadFile(sorted: readonly CompletedPoint[], file: string): boolean {
  let end = 0;
  for (const p of sorted) {
    if (p.file !== file) return false;
    for (const [start, stop] of p.ranges) {
      if (start !== end) return false;
      end = stop;
    }
  }
  return true;
}

/**
 * Finds each complete point's lines in the folder's results.csv (sets `csv`), where that file lines
 * up with results.jsonl: the points lead results.jsonl in order (leadFile), the CSV header holds
 * their columns, every point's row count of lines follows it, and each point's first line starts
 * with its own point and point_id cells. Appending writes a point's rows to both tables before its
 * ledger line, so that is the usual layout, complete or killed; in any other the points get no
 * `csv`, and a rewrite formats their CSV lines from results.jsonl.
 */
function csvLinesOf(dir: string, sorted: readonly CompletedPoint[]): void {
  const file = join(dir, SWEEP_FILES.csv);
  const columns = unionColumns(sorted);
  if (sorted.length === 0 || columns[0] !== 'point' || columns[1] !== 'point_id' || !existsSync(file)) return;
  if (!leadFile(sorted, join(dir, SWEEP_FILES.results))) return;
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.from(csvHeader(columns), 'utf8');
    if (!bytesAtMost(fd, 0, header.length).equals(header)) return;
    const ends = csvLineEnds(fd, header.length, sorted.map((p) => p.entry.rows));
    if (!ends) return;
    const found = sorted.map((p, i) => ({ file, columns, start: i === 0 ? header.length : ends[i - 1]!, end: ends[i]! }));
    for (const [i, p] of sorted.entries()) {
      if (p.entry.rows === 0) continue;
      const lead = Buffer.from(`${csvCell(p.entry.point)},${csvCell(p.entry.point_id)}${columns.length > 2 ? ',' : '\n'}`, 'utf8');
      if (!bytesAtMost(fd, found[i]!.start, lead.length).equals(lead)) return;
    }
    sorted.forEach((p, i) => (p.csv = found[i]));
  } finally {
    closeSync(fd);
  }
}

/** The columns of a table of these points: the union of theirs, in order of first appearance. */
export function unionColumns(sorted: ReadonlyArray<{ columns: readonly string[] }>): string[] {
  const union = new Set<string>();
  for (const p of sorted) for (const c of p.columns) union.add(c);
  return [...union];
}

/** A complete point's rows, read back from its folder. */
export function readPointRows(point: CompletedPoint): Row[] {
  const fd = openSync(point.file, 'r');
  try {
    return rowsAt(fd, point.ranges);
  } finally {
    closeSync(fd);
  }
}

export function rowsAt(fd: number, ranges: ReadonlyArray<readonly [number, number]>): Row[] {
  return ranges.flatMap(([start, end]) => rowsOfJsonl(bytesAt(fd, start, end).toString('utf8')));
}

export function bytesAt(fd: number, start: number, end: number): Buffer {
  const bytes = Buffer.alloc(end - start);
  for (let at = 0; at < bytes.length; ) {
    const n = readSync(fd, bytes, at, bytes.length - at, start + at);
    if (n === 0) throw new Error(`sweep folder changed while being read: ${end - start} bytes expected at ${start}`);
    at += n;
  }
  return bytes;
}

/**
 * Where each of consecutive runs of CSV lines ends, the runs `counts[i]` lines long, starting at
 * byte `from` (a quoted cell may hold a newline); undefined when the file ends first.
 */
function csvLineEnds(fd: number, from: number, counts: readonly number[]): number[] | undefined {
  const ends: number[] = [];
  let run = 0;
  let left = counts[0] ?? 0;
  // Runs of no lines end where they start.
  const closeRuns = (at: number) => {
    while (left === 0 && run < counts.length) {
      ends.push(at);
      left = counts[++run] ?? 0;
    }
  };
  let at = from;
  closeRuns(at);
  let quoted = false;
  const chunk = Buffer.alloc(1 << 20);
  while (run < counts.length) {
    const n = readSync(fd, chunk, 0, chunk.length, at);
    if (n === 0) return undefined;
    const bytes = chunk.subarray(0, n);
    if (!quoted && bytes.indexOf(34) === -1) {
      // No quoted cell here (the usual case): find newlines with indexOf, not byte by byte.
      for (let nl = bytes.indexOf(10); nl !== -1 && run < counts.length; nl = bytes.indexOf(10, nl + 1)) if (--left === 0) closeRuns(at + nl + 1);
    } else {
      for (let i = 0; i < n && run < counts.length; i++) {
        const b = bytes[i]!;
        if (b === 34) quoted = !quoted;
        else if (b === 10 && !quoted && --left === 0) closeRuns(at + i + 1);
      }
    }
    at += n;
  }
  return ends;
}

function bytesAtMost(fd: number, start: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  const n = readSync(fd, bytes, 0, length, start);
  return bytes.subarray(0, n);
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
