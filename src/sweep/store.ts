import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { roundTree, writeFileAtomic } from '../core/io.js';
import { appendWhole, columnsOf, csvHeader, csvLines, decodeLines, jsonlLines, readJsonl, rowsOfJsonl, type PointTable, type Row } from './results.js';

/**
 * A sweep's output folder, written incrementally and safe against kill -9:
 *   results.jsonl, results.csv   rows, each point's appended as runs of whole lines
 *   points.jsonl                 the ledger: one line per completed point, appended after its rows
 *   config.resolved.yaml         the sweep and every point's resolved config
 *   summary.json                 written when every point of the sweep (or shard) is done
 * A point counts as complete only when its ledger line is whole and its rows are all present, so
 * a kill between the two appends, or in the middle of one, makes the point run again on --resume
 * and never twice: `SweepWriter` first rewrites the folder to the complete points alone, sorted.
 */
export interface LedgerEntry {
  point: number;
  point_id: string;
  rows: number;
  tags?: Record<string, string | number | boolean>;
  summary?: Record<string, unknown>;
}

export interface CompletedPoint {
  entry: LedgerEntry;
  rows: Row[];
}

export const SWEEP_FILES = { results: 'results.jsonl', csv: 'results.csv', ledger: 'points.jsonl', config: 'config.resolved.yaml', summary: 'summary.json' } as const;

function isEntry(v: unknown): v is LedgerEntry {
  const e = v as LedgerEntry;
  return !!e && typeof e === 'object' && typeof e.point_id === 'string' && Number.isInteger(e.point) && Number.isInteger(e.rows);
}

/** The complete points recorded in a sweep folder, sorted by point index. */
export function readCompleted(dir: string): { points: CompletedPoint[]; discarded: number } {
  const ledger = readJsonl(join(dir, SWEEP_FILES.ledger)).records.filter(isEntry);
  const rowsById = new Map<string, Row[]>();
  for (const row of readJsonl<Row>(join(dir, SWEEP_FILES.results)).records) {
    const id = row && typeof row === 'object' ? row.point_id : undefined;
    if (typeof id !== 'string') continue;
    const list = rowsById.get(id) ?? [];
    list.push(row);
    rowsById.set(id, list);
  }
  const points: CompletedPoint[] = [];
  const seen = new Set<string>();
  for (const entry of ledger) {
    if (seen.has(entry.point_id)) continue;
    const rows = rowsById.get(entry.point_id) ?? [];
    if (rows.length !== entry.rows) continue;
    seen.add(entry.point_id);
    points.push({ entry, rows });
  }
  const discarded = [...rowsById.keys()].filter((id) => !seen.has(id)).length;
  points.sort((a, b) => a.entry.point - b.entry.point);
  return { points, discarded };
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
    const rows = sorted.flatMap((p) => p.rows);
    this.setColumns(rows.length ? columnsOf(rows) : undefined);
    const columns = this.columns;
    this.records.clear();
    for (const p of sorted) this.records.set(p.entry.point, { entry: p.entry, columns: columnsOf(p.rows) });
    writeFileAtomic(join(this.dir, SWEEP_FILES.results), sorted.map((p) => jsonlLines(p.rows)).join(''));
    writeFileAtomic(join(this.dir, SWEEP_FILES.csv), columns ? csvHeader(columns) + sorted.map((p) => csvLines(columns, p.rows)).join('') : '');
    writeFileAtomic(join(this.dir, SWEEP_FILES.ledger), jsonlLines(sorted.map((p) => p.entry)));
    this.lastPoint = sorted.length ? sorted[sorted.length - 1]!.entry.point : -Infinity;
    this.unsorted = false;
    this.csvStale = false;
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
    appendWhole(join(this.dir, SWEEP_FILES.results), table.jsonl);
    appendWhole(join(this.dir, SWEEP_FILES.csv), [header, csv]);
    appendWhole(join(this.dir, SWEEP_FILES.ledger), jsonlLines([entry]));
    if (entry.point < this.lastPoint) this.unsorted = true;
    else this.lastPoint = entry.point;
    this.records.set(entry.point, { entry, columns: table.columns });
  }

  /** The complete points, sorted by point index. */
  points(): PointRecord[] {
    return [...this.records.values()].sort((a, b) => a.entry.point - b.entry.point);
  }

  flush(): void {
    if (this.unsorted || this.csvStale) this.rewrite(readCompleted(this.dir).points);
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
