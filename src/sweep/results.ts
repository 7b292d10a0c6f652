import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { columnsOf, csvCell } from '../core/io.js';
import { isArrayIndexKey } from './canonical.js';

/**
 * Result tables. Two formats, one row per observation: `results.jsonl` (the record of truth, one
 * JSON object per line, full precision) and `results.csv` (tidy, units in column names, numbers
 * to 6 significant digits). During a sweep both grow by appending whole lines, each write a run
 * of whole lines, so a crash can at worst truncate the last line, which readers drop.
 */
export type Cell = string | number | boolean;
export type Row = Record<string, Cell>;

export { columnsOf };

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
 * One point's rows, serialised where they were computed: UTF-8 lines in one buffer per format.
 * A pool worker hands the buffers over without copying (they are transferred, not cloned), so
 * the thread that writes the files only appends bytes, and no point's text ever sits in a V8
 * heap where every young-generation collection would copy it. `csv` uses the point's own `columns`.
 */
export interface PointTable {
  jsonl: Uint8Array;
  csv: Uint8Array;
  columns: string[];
  rows: number;
}

/**
 * Lines are joined into strings of at most ~CHUNK_CHARS characters before encoding: well under
 * V8's large-object size (128 KiB), which it maps and unmaps one by one (with several lanes in a
 * process, every unmap interrupts the other lanes' cores: a TLB shootdown).
 */
const CHUNK_CHARS = 48 * 1024;

/** `line(item)` for every item, UTF-8 encoded into one buffer that owns its memory (transferable). */
function encodeLines<T>(items: readonly T[], line: (item: T) => string): Uint8Array {
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
  let bytes = 0;
  for (const chunk of chunks) bytes += Buffer.byteLength(chunk, 'utf8');
  // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared pool, so it can be transferred.
  const out = Buffer.allocUnsafeSlow(bytes);
  let at = 0;
  for (const chunk of chunks) at += out.write(chunk, at, 'utf8');
  return out;
}

/** The text of encoded lines. */
export function decodeLines(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

export function pointTable(rows: readonly Row[]): PointTable {
  const columns = columnsOf(rows);
  return {
    jsonl: encodeLines(rows, (r) => JSON.stringify(r) + '\n'),
    csv: encodeLines(rows, (r) => csvLine(columns, r)),
    columns,
    rows: rows.length,
  };
}

/**
 * `pointTable` of the rows `{...lead, ...row}`: every row of a sweep point starts with the same
 * cells (point, point_id, the point's tags), so those are serialised once per point and each line
 * is that text plus the row's own. The lines are exactly those of the merged rows. A row may repeat
 * a lead column with the same value (an axis named after a column, `m` or `hw`): the merged row
 * keeps it in the lead's place, so the row's own text leaves it out. Where the lines would differ,
 * the whole table takes the plain path: a repeat with another value, or an integer-like key (which
 * objects order first).
 */
export function pointTableWithLead(lead: Row, rows: readonly Row[]): PointTable {
  const leadKeys = Object.keys(lead);
  const plain = () => pointTable(rows.map((row) => ({ ...lead, ...row })));
  if (leadKeys.length === 0 || leadKeys.some(isArrayIndexKey)) return plain();
  const leadSet = new Set(leadKeys);
  const columns = [...leadKeys];
  const seen = new Set<string>();
  let repeats = false;
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (leadSet.has(key)) {
        if (row[key] !== lead[key]) return plain();
        repeats = true;
      } else if (!seen.has(key)) {
        if (isArrayIndexKey(key)) return plain();
        seen.add(key);
        columns.push(key);
      }
    }
  }
  const ownColumns = columns.slice(leadKeys.length);
  const leadJson = JSON.stringify(lead).slice(0, -1);
  const leadCsv = leadKeys.map((k) => csvCell(lead[k])).join(',');
  const ownOf = (row: Row): Row => {
    if (!repeats) return row;
    const own: Row = {};
    for (const k of Object.keys(row)) if (!leadSet.has(k)) own[k] = row[k]!;
    return own;
  };
  const jsonLine = (row: Row): string => {
    const own = JSON.stringify(ownOf(row));
    return (own.length === 2 ? leadJson + '}' : leadJson + ',' + own.slice(1)) + '\n';
  };
  const csvRow = (row: Row): string => {
    let line = leadCsv;
    for (const c of ownColumns) line += ',' + csvCell(row[c]);
    return line + '\n';
  };
  return { jsonl: encodeLines(rows, jsonLine), csv: encodeLines(rows, csvRow), columns, rows: rows.length };
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
 * are dropped and counted; `damaged` counts those among them that are whole lines, which no kill
 * leaves. A missing file reads as empty.
 */
export function readJsonl<T = unknown>(path: string): { records: T[]; dropped: number; damaged: number } {
  const records: T[] = [];
  const { dropped, damaged } = scanJsonl(path, (record) => records.push(record as T));
  return { records, dropped, damaged };
}

const SCAN_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Calls `onRecord` with every whole line of a JSONL file, parsed, and the byte range of the line
 * (newline included), reading the file a chunk at a time: a sweep's table can outgrow the longest
 * string V8 makes (512 MiB), and only the caller decides what to keep. Lines that do not parse, and
 * a last line without its newline (a write cut short by a kill, even if what is there parses), are
 * dropped and counted (`damaged`: the whole lines among them). A missing file has no lines.
 */
export function scanJsonl(path: string, onRecord: (record: unknown, start: number, end: number) => void, chunkBytes = SCAN_CHUNK_BYTES): { dropped: number; damaged: number } {
  let dropped = 0;
  const { cut } = scanLines(
    path,
    (bytes, start, end, fileStart) => {
      const text = bytes.toString('utf8', start, end - 1);
      if (text.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch {
        dropped++;
        return;
      }
      onRecord(record, fileStart, fileStart + end - start);
    },
    chunkBytes,
  );
  return { dropped: dropped + (cut ? 1 : 0), damaged: dropped };
}

/**
 * Calls `onLine` with every whole line of a file, a chunk at a time: the bytes holding it, where it
 * starts and ends there (the end just past its newline), and where it starts in the file. `bytes`
 * is only valid during the call. `cut`: the file ends in a line without its newline, which is not
 * passed on. A missing file has no lines.
 */
export function scanLines(path: string, onLine: (bytes: Buffer, start: number, end: number, fileStart: number) => void, chunkBytes = SCAN_CHUNK_BYTES): { cut: boolean } {
  if (!existsSync(path)) return { cut: false };
  let buf = Buffer.alloc(chunkBytes);
  let have = 0; // bytes of buf in use
  let bufAt = 0; // file offset of buf[0]
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      if (have === buf.length) buf = Buffer.concat([buf, Buffer.alloc(buf.length)]); // one line longer than the buffer
      const n = readSync(fd, buf, have, buf.length - have, null);
      have += n;
      let lineStart = 0;
      const filled = buf.subarray(0, have);
      for (let nl = filled.indexOf(10); nl !== -1; nl = filled.indexOf(10, lineStart)) {
        onLine(buf, lineStart, nl + 1, bufAt + lineStart);
        lineStart = nl + 1;
      }
      buf.copy(buf, 0, lineStart, have);
      bufAt += lineStart;
      have -= lineStart;
      if (n === 0) return { cut: have > 0 };
    }
  } finally {
    closeSync(fd);
  }
}
