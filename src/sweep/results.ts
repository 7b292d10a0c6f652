import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { csvCell } from '../core/io.js';

/**
 * Result tables. Two formats, one row per observation: `results.jsonl` (the record of truth, one
 * JSON object per line, full precision) and `results.csv` (tidy, units in column names, numbers
 * to 6 significant digits). During a sweep both grow by appending whole lines in one write, so a
 * crash can at worst truncate the last line, which readers drop.
 */
export type Cell = string | number | boolean;
export type Row = Record<string, Cell>;

/** Union of the rows' keys in order of first appearance: deterministic for a deterministic row order. */
export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

export function csvHeader(columns: readonly string[]): string {
  return columns.map(csvCell).join(',') + '\n';
}

export function csvLines(columns: readonly string[], rows: readonly Row[]): string {
  let text = '';
  for (const row of rows) text += columns.map((c) => csvCell(row[c])).join(',') + '\n';
  return text;
}

export function tableCsv(rows: readonly Row[]): string {
  const columns = columnsOf(rows);
  return csvHeader(columns) + csvLines(columns, rows);
}

export function jsonlLines(records: readonly unknown[]): string {
  let text = '';
  for (const r of records) text += JSON.stringify(r) + '\n';
  return text;
}

/**
 * One point's rows, serialised where they were computed (a pool worker hands back two strings,
 * which cross threads far cheaper than thousands of row objects, and leaves the thread that writes
 * the files with nothing to format). `csv` uses the point's own `columns`.
 */
export interface PointTable {
  jsonl: string;
  csv: string;
  columns: string[];
  rows: number;
}

export function pointTable(rows: readonly Row[]): PointTable {
  const columns = columnsOf(rows);
  return { jsonl: jsonlLines(rows), csv: csvLines(columns, rows), columns, rows: rows.length };
}

/** The rows of whole JSONL lines as written by jsonlLines. */
export function rowsOfJsonl(text: string): Row[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Row);
}

/**
 * Reads a JSONL file written by appends. Lines that do not parse (a write cut short by a kill)
 * are dropped and counted; a missing file reads as empty.
 */
export function readJsonl<T = unknown>(path: string): { records: T[]; dropped: number } {
  if (!existsSync(path)) return { records: [], dropped: 0 };
  const records: T[] = [];
  let dropped = 0;
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  // A final line without '\n' was cut short mid-write, even if what is there happens to parse.
  if (lines[lines.length - 1] !== '') dropped++;
  for (const line of lines.slice(0, -1)) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      dropped++;
    }
  }
  return { records, dropped };
}

/** Appends complete lines in a single write (never a partial row from this process). */
export function appendWhole(path: string, text: string): void {
  if (text.length > 0) appendFileSync(path, text);
}
