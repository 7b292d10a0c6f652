import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { csvCell } from '../core/io.js';

/**
 * Result tables. Two formats, one row per observation: `results.jsonl` (the record of truth, one
 * JSON object per line, full precision) and `results.csv` (tidy, units in column names, numbers
 * to 6 significant digits). During a sweep both grow by appending whole lines, each write a run
 * of whole lines, so a crash can at worst truncate the last line, which readers drop.
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

export function csvLine(columns: readonly string[], row: Row): string {
  return columns.map((c) => csvCell(row[c])).join(',') + '\n';
}

export function csvLines(columns: readonly string[], rows: readonly Row[]): string {
  let text = '';
  for (const row of rows) text += csvLine(columns, row);
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
 * One point's rows, serialised where they were computed (a pool worker hands back strings, which
 * cross threads far cheaper than thousands of row objects, and leaves the thread that writes the
 * files with nothing to format). Lines come in chunks of whole rows, each well under V8's
 * large-object size (128 KiB): a bigger string is mapped and unmapped on its own, and in a process
 * with several lanes every unmap interrupts the other lanes' cores (a TLB shootdown).
 * `csv` uses the point's own `columns`.
 */
export interface PointTable {
  jsonl: string[];
  csv: string[];
  columns: string[];
  rows: number;
}

const CHUNK_CHARS = 48 * 1024;

/** Whole lines, `line(row)` each, joined into chunks of at most ~CHUNK_CHARS characters. */
function chunkLines<T>(items: readonly T[], line: (item: T) => string): string[] {
  const chunks: string[] = [];
  let text = '';
  for (const item of items) {
    text += line(item);
    if (text.length >= CHUNK_CHARS) {
      chunks.push(text);
      text = '';
    }
  }
  if (text) chunks.push(text);
  return chunks;
}

export function pointTable(rows: readonly Row[]): PointTable {
  const columns = columnsOf(rows);
  return {
    jsonl: chunkLines(rows, (r) => JSON.stringify(r) + '\n'),
    csv: chunkLines(rows, (r) => csvLine(columns, r)),
    columns,
    rows: rows.length,
  };
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

/** Appends complete lines, one write per chunk (never a partial row from this process). */
export function appendWhole(path: string, chunks: string | readonly string[]): void {
  const list = typeof chunks === 'string' ? [chunks] : chunks;
  if (!list.some((c) => c.length > 0)) return;
  const fd = openSync(path, 'a');
  try {
    for (const chunk of list) if (chunk.length > 0) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}
