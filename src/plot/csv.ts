import { readFileSync } from 'node:fs';
import Papa from 'papaparse';
import { SilicaError } from '../core/errors.js';
import { firstRepeat } from '../core/repeats.js';

/**
 * Reads a tidy CSV (RFC 4180 quoting, as silica writes it) into rows, with papaparse. Cells that
 * read as numbers become numbers, empty cells stay '' (missing), everything else is a string.
 */
export interface CsvTable {
  columns: string[];
  rows: Array<Record<string, string | number>>;
}

/**
 * `keep`: only these columns go into the rows (all when absent). A sweep's table can hold hundreds
 * of thousands of rows of dozens of columns, and a figure needs four of them: converting and
 * holding every cell took most of `silica plot`'s time and memory.
 */
export function readCsvFile(path: string, keep?: readonly string[]): CsvTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new SilicaError(`${path}: cannot read file`, { file: path });
  }
  return parseCsv(text, path, keep);
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseCsv(text: string, file: string, keep?: readonly string[]): CsvTable {
  const parsed = Papa.parse<string[]>(text, { delimiter: ',', skipEmptyLines: false });
  const bad = parsed.errors[0];
  if (bad) {
    const where = bad.code === 'MissingQuotes' ? 'a quoted cell is not closed before the end of the file' : `record ${(bad.row ?? 0) + 1}: ${bad.message}`;
    throw new SilicaError(`${file}: malformed CSV: ${where}`, { file });
  }
  const records = parsed.data;
  // A last line break ends the last record; it does not start an empty one.
  if (records.length > 1 && /\r?\n$/.test(text) && records[records.length - 1]!.length === 1 && records[records.length - 1]![0] === '') records.pop();
  if (records.length === 0 || (records.length === 1 && records[0]!.every((c) => c === ''))) {
    throw new SilicaError(`${file}: expected a CSV table with a header line, got an empty file`, { file });
  }
  const columns = records[0]!;
  // Rows are keyed by column name: a second column of one name would overwrite the first's cells.
  const twice = firstRepeat(columns);
  if (twice) throw new SilicaError(`${file}: header: expected distinct column names, got ${JSON.stringify(columns[twice.again])} twice (columns ${twice.first + 1} and ${twice.again + 1})`, { file, field: 'header' });
  const kept = columns.map((c, j) => [c, j] as const).filter(([c]) => !keep || keep.includes(c));
  const rows = records.slice(1).map((cells, i) => {
    if (cells.length !== columns.length) throw new SilicaError(`${file}: line ${i + 2}: expected ${columns.length} cells like the header, got ${cells.length}`, { file });
    const row: Record<string, string | number> = {};
    for (const [c, j] of kept) {
      const v = cells[j]!;
      row[c] = NUMBER.test(v) ? Number(v) : v === 'Infinity' || v === '-Infinity' ? Number(v) : v;
    }
    return row;
  });
  return { columns, rows };
}
