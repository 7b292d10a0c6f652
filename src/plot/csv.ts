import { readFileSync } from 'node:fs';
import { SilicaError } from '../core/errors.js';

/**
 * Reads a tidy CSV (RFC 4180 quoting, as silica writes it) into rows. Cells that read as numbers
 * become numbers, empty cells stay '' (missing), everything else is a string.
 */
export interface CsvTable {
  columns: string[];
  rows: Array<Record<string, string | number>>;
}

export function readCsvFile(path: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new SilicaError(`${path}: cannot read file`, { file: path });
  }
  return parseCsv(text, path);
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseCsv(text: string, file: string): CsvTable {
  const records = splitRecords(text, file);
  if (records.length === 0 || (records.length === 1 && records[0]!.every((c) => c === ''))) {
    throw new SilicaError(`${file}: expected a CSV table with a header line, got an empty file`, { file });
  }
  const columns = records[0]!;
  const rows = records.slice(1).map((cells, i) => {
    if (cells.length !== columns.length) throw new SilicaError(`${file}: line ${i + 2}: expected ${columns.length} cells like the header, got ${cells.length}`, { file });
    const row: Record<string, string | number> = {};
    columns.forEach((c, j) => {
      const v = cells[j]!;
      row[c] = NUMBER.test(v) ? Number(v) : v === 'Infinity' || v === '-Infinity' ? Number(v) : v;
    });
    return row;
  });
  return { columns, rows };
}

function splitRecords(text: string, file: string): string[][] {
  const records: string[][] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else cell += ch;
      i++;
      continue;
    }
    if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      cells.push(cell);
      records.push(cells);
      cells = [];
      cell = '';
    } else cell += ch;
    i++;
  }
  if (quoted) throw new SilicaError(`${file}: unterminated quoted cell at the end of the file`, { file });
  if (cell !== '' || cells.length) {
    cells.push(cell);
    records.push(cells);
  }
  return records;
}
