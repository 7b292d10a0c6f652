import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { roundTree, writeFileAtomic } from '../core/io.js';
import { appendWhole, columnsOf, csvHeader, csvLines, jsonlLines, readJsonl, type Row } from './results.js';

/**
 * A sweep's output folder, written incrementally and safe against kill -9:
 *   results.jsonl, results.csv   rows, each point's rows appended in one write
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

interface HeldPoint extends CompletedPoint {
  /** The point's lines as appended, kept so the final sorted rewrite only concatenates. */
  jsonl: string;
  csv: string;
}

/**
 * Writes a sweep folder. Construction compacts it to the given complete points (dropping rows of
 * half-finished points and a truncated last line); `append` adds one finished point: its rows to
 * both tables, then its ledger line, each in one write; `flush` rewrites all three files sorted by
 * point, atomically, from the lines already built (no re-reading, no re-serialising).
 */
export class SweepWriter {
  private readonly held = new Map<number, HeldPoint>();
  private columns: string[] | undefined;
  private columnSet = new Set<string>();
  /** A row brought a column the CSV header lacks: the CSV is rebuilt at flush. */
  private csvStale = false;

  constructor(
    private readonly dir: string,
    initial: readonly CompletedPoint[],
  ) {
    const rows = initial.flatMap((p) => p.rows);
    if (rows.length) this.setColumns(columnsOf(rows));
    for (const p of initial) this.held.set(p.entry.point, { ...p, jsonl: jsonlLines(p.rows), csv: this.columns ? csvLines(this.columns, p.rows) : '' });
    this.flush();
  }

  private setColumns(columns: string[]): void {
    this.columns = columns;
    this.columnSet = new Set(columns);
  }

  append(entry: LedgerEntry, rows: Row[]): void {
    let header = '';
    if (!this.columns && rows.length) {
      this.setColumns(columnsOf(rows));
      header = csvHeader(this.columns!);
    }
    if (rows.some((r) => Object.keys(r).some((k) => !this.columnSet.has(k)))) this.csvStale = true;
    const jsonl = jsonlLines(rows);
    // Columns that appear only later are kept in results.jsonl and join the CSV at flush.
    const csv = this.columns ? csvLines(this.columns, rows) : '';
    appendWhole(join(this.dir, SWEEP_FILES.results), jsonl);
    appendWhole(join(this.dir, SWEEP_FILES.csv), header + csv);
    appendWhole(join(this.dir, SWEEP_FILES.ledger), jsonlLines([entry]));
    this.held.set(entry.point, { entry, rows, jsonl, csv });
  }

  /** The complete points, sorted by point index. */
  points(): CompletedPoint[] {
    return this.sorted().map(({ entry, rows }) => ({ entry, rows }));
  }

  private sorted(): HeldPoint[] {
    return [...this.held.values()].sort((a, b) => a.entry.point - b.entry.point);
  }

  flush(): void {
    const sorted = this.sorted();
    if (this.csvStale) {
      this.setColumns(columnsOf(sorted.flatMap((p) => p.rows)));
      for (const p of sorted) p.csv = csvLines(this.columns!, p.rows);
      this.csvStale = false;
    }
    writeFileAtomic(join(this.dir, SWEEP_FILES.results), sorted.map((p) => p.jsonl).join(''));
    writeFileAtomic(join(this.dir, SWEEP_FILES.csv), this.columns ? csvHeader(this.columns) + sorted.map((p) => p.csv).join('') : '');
    writeFileAtomic(join(this.dir, SWEEP_FILES.ledger), jsonlLines(sorted.map((p) => p.entry)));
  }
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

export function writeSweepSummary(dir: string, header: { sweep: string; source: string; points_total: number; shard?: string }, points: readonly CompletedPoint[]): SweepSummary {
  const rows = points.flatMap((p) => p.rows);
  const withSummary = points.filter((p) => p.entry.summary);
  const summary: SweepSummary = {
    ...header,
    points: points.length,
    rows: rows.length,
    columns: columnsOf(rows),
    ...(withSummary.length ? { point_summaries: withSummary.map((p) => ({ point: p.entry.point, point_id: p.entry.point_id, ...p.entry.tags, ...p.entry.summary })) } : {}),
  };
  writeFileAtomic(join(dir, SWEEP_FILES.summary), JSON.stringify(roundTree(summary), null, 2) + '\n');
  return summary;
}

export function requireSweepDir(dir: string): void {
  if (!isSweepDir(dir)) throw new SilicaError(`${dir}: not a sweep output folder (no ${SWEEP_FILES.ledger}; expected the --out of silica sweep)`);
}
