import { closeSync, existsSync, ftruncateSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { csvCell, roundTree, writeFileAtomic, writeFileAtomicFrom } from '../core/io.js';
import { csvHeader, csvLines, decodeLines, jsonlLines, readJsonl, rowsOfJsonl, scanJsonl, scanLines, writeWhole, type PointTable, type Row } from './results.js';

/**
 * A sweep's output folder, written incrementally and safe against kill -9:
 *   results.jsonl, results.csv   rows, each point's appended as runs of whole lines
 *   points.jsonl                 the ledger: one line per completed point, appended after its rows
 *   config.resolved.yaml         the sweep and every point's resolved config
 *   summary.json                 written when every point of the sweep (or shard) is done
 * A point counts as complete only when its ledger line is whole and its rows are all present, so
 * a kill between the two appends, or in the middle of one, makes the point run again on --resume
 * and never twice: `SweepWriter` first brings the folder back to the complete points alone, sorted
 * (cutting the files where the kill left them in order, else rewriting them from the rows on disk).
 * Rows are read and copied a point at a time, never all at once: a large sweep's tables outgrow
 * memory, and V8's longest string (512 MiB).
 */
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

export const SWEEP_FILES = { results: 'results.jsonl', csv: 'results.csv', ledger: 'points.jsonl', config: 'config.resolved.yaml', summary: 'summary.json' } as const;

function isEntry(v: unknown): v is LedgerEntry {
  const e = v as LedgerEntry;
  return !!e && typeof e === 'object' && typeof e.point_id === 'string' && Number.isInteger(e.point) && Number.isInteger(e.rows);
}

/** The complete points recorded in a sweep folder, sorted by point index. */
export function readCompleted(dir: string): { points: CompletedPoint[] } {
  const ledger = readJsonl(join(dir, SWEEP_FILES.ledger)).records.filter(isEntry);
  const file = join(dir, SWEEP_FILES.results);
  const points = pointsByLedger(file, ledger) ?? pointsByRows(file, ledger);
  points.sort((a, b) => a.entry.point - b.entry.point);
  csvLinesOf(dir, points);
  return { points };
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
function leadFile(sorted: readonly CompletedPoint[], file: string): boolean {
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
function unionColumns(sorted: readonly CompletedPoint[]): string[] {
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

function rowsAt(fd: number, ranges: ReadonlyArray<readonly [number, number]>): Row[] {
  return ranges.flatMap(([start, end]) => rowsOfJsonl(bytesAt(fd, start, end).toString('utf8')));
}

function bytesAt(fd: number, start: number, end: number): Buffer {
  const bytes = Buffer.alloc(end - start);
  for (let at = 0; at < bytes.length; ) {
    const n = readSync(fd, bytes, at, bytes.length - at, start + at);
    if (n === 0) throw new Error(`sweep folder changed while being read: ${end - start} bytes expected at ${start}`);
    at += n;
  }
  return bytes;
}

/** What the writer keeps of a point once its lines are on disk: enough for the summary. */
export interface PointRecord {
  entry: LedgerEntry;
  /** The point's columns, in order of first appearance. */
  columns: string[];
}

/**
 * Writes a sweep folder. Construction compacts it to the given complete points, sorted (dropping
 * rows of half-finished points and a truncated last line); `append` adds one finished point: its
 * rows to both tables (whole lines per write), then its ledger line. Points appended in index order
 * keep the files sorted as they grow, so nothing is held in memory and `flush` has nothing to do;
 * only a point that arrives out of order, or brings a column the CSV header lacks, makes `flush`
 * rewrite the folder from disk, sorted, atomically.
 */
export class SweepWriter {
  private readonly records = new Map<number, PointRecord>();
  private columns: string[] | undefined;
  private columnSet = new Set<string>();
  private lastPoint = -Infinity;
  private unsorted = false;
  /** A row brought a column the CSV header lacks: the CSV is rebuilt at flush. */
  private csvStale = false;
  /**
   * The tables and the ledger, by file name, open for appending while points arrive: an open and a
   * close of three files for every point cost more than writing a small point's lines.
   */
  private readonly appending = new Map<string, number>();

  constructor(
    private readonly dir: string,
    initial: readonly CompletedPoint[],
  ) {
    this.rewrite(initial);
  }

  private setColumns(columns: string[] | undefined): void {
    this.columns = columns;
    this.columnSet = new Set(columns);
  }

  private rewrite(points: readonly CompletedPoint[]): void {
    const sorted = [...points].sort((a, b) => a.entry.point - b.entry.point);
    const union = unionColumns(sorted);
    this.setColumns(union.length ? union : undefined);
    this.records.clear();
    for (const p of sorted) this.records.set(p.entry.point, { entry: p.entry, columns: p.columns });
    this.lastPoint = sorted.length ? sorted[sorted.length - 1]!.entry.point : -Infinity;
    this.unsorted = false;
    this.csvStale = false;
    if (this.truncateToPrefix(sorted)) return;
    // The rows are copied from where they are, point by point (this folder's own files are only
    // replaced once the new ones are whole: the sources stay open until then).
    const fds = new Map<string, number>();
    const fd = (file: string) => fds.get(file) ?? fds.set(file, openSync(file, 'r')).get(file)!;
    try {
      const columns = this.columns;
      writeFileAtomicFrom(join(this.dir, SWEEP_FILES.csv), (write) => {
        if (!columns) return;
        write(csvHeader(columns));
        for (const p of sorted) {
          // Lines already written over these columns are copied; others are formatted from the rows.
          if (p.csv && sameList(p.csv.columns, columns)) write(bytesAt(fd(p.csv.file), p.csv.start, p.csv.end));
          else if (p.ranges.length) write(csvLines(columns, rowsAt(fd(p.file), p.ranges)));
        }
      });
      writeFileAtomicFrom(join(this.dir, SWEEP_FILES.results), (write) => {
        for (const p of sorted) for (const [start, end] of p.ranges) write(bytesAt(fd(p.file), start, end));
      });
    } finally {
      for (const fd of fds.values()) closeSync(fd);
    }
    // Entries from folders of earlier versions gain their columns here (see pointsByLedger).
    writeFileAtomic(join(this.dir, SWEEP_FILES.ledger), jsonlLines(sorted.map((p) => ({ ...p.entry, columns: p.columns }))));
  }

  /**
   * Resuming a folder that a kill left as it usually does: the complete points' lines first, in
   * point order, in all three files, then at most the start of an unfinished point. Cutting the
   * files after the complete points leaves exactly what a rewrite would write, without reading
   * and writing every row again. Returns false (nothing done) for any other layout.
   */
  private truncateToPrefix(sorted: readonly CompletedPoint[]): boolean {
    const results = join(this.dir, SWEEP_FILES.results);
    const csv = join(this.dir, SWEEP_FILES.csv);
    const columns = this.columns;
    if (sorted.length === 0 || !columns || !leadFile(sorted, results)) return false;
    // The CSV lines up when every point's lines were found in this folder's CSV, over these columns.
    if (!sorted.every((p) => p.csv?.file === csv && sameList(p.csv.columns, columns))) return false;
    const ledgerEnd = prefixOfLedger(join(this.dir, SWEEP_FILES.ledger), sorted);
    if (ledgerEnd === undefined) return false;
    // leadFile: the last range of any point ends where the last point with rows ends.
    truncateFile(results, sorted.reduce((end, p) => (p.ranges.length ? p.ranges[p.ranges.length - 1]![1] : end), 0));
    truncateFile(csv, sorted[sorted.length - 1]!.csv!.end);
    truncateFile(join(this.dir, SWEEP_FILES.ledger), ledgerEnd);
    return true;
  }

  append(entry: LedgerEntry, table: PointTable): void {
    let header = '';
    if (!this.columns && table.rows) {
      this.setColumns(table.columns);
      header = csvHeader(table.columns);
    }
    let csv: string | Uint8Array = table.csv;
    if (this.columns && !sameList(table.columns, this.columns)) {
      // Columns that appear only later are kept in results.jsonl and join the CSV at flush.
      if (table.columns.some((c) => !this.columnSet.has(c))) this.csvStale = true;
      csv = csvLines(this.columns, rowsOfJsonl(decodeLines(table.jsonl)));
    }
    this.appendTo(SWEEP_FILES.results, [table.jsonl]);
    this.appendTo(SWEEP_FILES.csv, [header, csv]);
    const recorded: LedgerEntry = { ...entry, columns: table.columns };
    this.appendTo(SWEEP_FILES.ledger, [jsonlLines([recorded])]);
    if (entry.point < this.lastPoint) this.unsorted = true;
    else this.lastPoint = entry.point;
    this.records.set(entry.point, { entry: recorded, columns: table.columns });
  }

  /** The complete points, sorted by point index. */
  points(): PointRecord[] {
    return [...this.records.values()].sort((a, b) => a.entry.point - b.entry.point);
  }

  /** Appends whole lines to one of the folder's files, opened on its first lines and kept open. */
  private appendTo(file: string, chunks: ReadonlyArray<string | Uint8Array>): void {
    if (!chunks.some((c) => c.length > 0)) return;
    let fd = this.appending.get(file);
    if (fd === undefined) this.appending.set(file, (fd = openSync(join(this.dir, file), 'a')));
    writeWhole(fd, chunks);
  }

  /** Closes the files kept open for appending (flush does too); a later append opens them again. */
  close(): void {
    for (const fd of this.appending.values()) closeSync(fd);
    this.appending.clear();
  }

  flush(): void {
    this.close();
    if (this.unsorted || this.csvStale) this.rewrite(readCompleted(this.dir).points);
  }
}

/** Where the ledger's first lines, exactly the given points' entries in order, end; else undefined. */
function prefixOfLedger(path: string, sorted: readonly CompletedPoint[]): number | undefined {
  let i = 0;
  let end = 0;
  let ok = true;
  scanJsonl(path, (record, start, stop) => {
    if (!ok || i === sorted.length) return;
    const expected = sorted[i]!.entry;
    if (start !== end || !isEntry(record) || record.point !== expected.point || record.point_id !== expected.point_id || record.rows !== expected.rows) ok = false;
    else {
      end = stop;
      i++;
    }
  });
  return ok && i === sorted.length ? end : undefined;
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

function truncateFile(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
  } finally {
    closeSync(fd);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function clearSweepOutputs(dir: string): void {
  for (const f of Object.values(SWEEP_FILES)) rmSync(join(dir, f), { force: true });
}

export function isSweepDir(dir: string): boolean {
  return existsSync(join(dir, SWEEP_FILES.ledger));
}

export interface SweepSummary {
  sweep: string;
  source: string;
  points_total: number;
  shard?: string;
  points: number;
  rows: number;
  columns: string[];
  point_summaries?: Array<Record<string, unknown>>;
}

export function writeSweepSummary(dir: string, header: { sweep: string; source: string; points_total: number; shard?: string }, points: readonly PointRecord[]): SweepSummary {
  const withSummary = points.filter((p) => p.entry.summary);
  const columns = new Set<string>();
  for (const p of points) for (const c of p.columns) columns.add(c);
  const summary: SweepSummary = {
    ...header,
    points: points.length,
    rows: points.reduce((n, p) => n + p.entry.rows, 0),
    columns: [...columns],
    ...(withSummary.length ? { point_summaries: withSummary.map((p) => ({ point: p.entry.point, point_id: p.entry.point_id, ...p.entry.tags, ...p.entry.summary })) } : {}),
  };
  writeFileAtomic(join(dir, SWEEP_FILES.summary), JSON.stringify(roundTree(summary), null, 2) + '\n');
  return summary;
}

export function requireSweepDir(dir: string): void {
  if (!isSweepDir(dir)) throw new SilicaError(`${dir}: not a sweep output folder (no ${SWEEP_FILES.ledger}; expected the --out of silica sweep)`);
}
