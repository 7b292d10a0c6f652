import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SilicaError } from './errors.js';

/**
 * Writes a file atomically: to a temporary sibling, then rename. A crash or a validation error
 * mid-run never leaves a half-written output behind.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(path) || '.', { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SilicaError(`${path}: cannot write (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
}

/** Tidy CSV: header from the first row's keys (or given columns), RFC 4180 quoting. */
export function toCsv(rows: ReadonlyArray<Record<string, unknown>>, columns?: string[]): string {
  const cols = columns ?? (rows.length ? Object.keys(rows[0]!) : []);
  const lines = [cols.join(',')];
  for (const row of rows) lines.push(cols.map((c) => csvCell(row[c])).join(','));
  return lines.join('\n') + '\n';
}

export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  // A formatted number never holds a quote, comma or newline.
  if (typeof value === 'number') return formatNumber(value);
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Stable number formatting for outputs: integers as-is, others with 6 significant digits in
 * JavaScript's shortest form (`String(Number(value.toPrecision(6)))`). toPrecision's text is
 * already that form unless it pads with zeros or uses an exponent, so only then is it re-printed
 * (sweep tables format hundreds of thousands of cells).
 */
export function formatNumber(value: number): string {
  if (Number.isInteger(value) || !Number.isFinite(value)) return String(value);
  const text = value.toPrecision(6);
  return text.includes('e') || text.endsWith('0') ? String(Number(text)) : text;
}

/** Rounds every number in a JSON-able tree to 6 significant digits for stable, readable output. */
export function roundTree<T>(value: T): T {
  if (typeof value === 'number') return (Number.isInteger(value) || !Number.isFinite(value) ? value : Number(value.toPrecision(6))) as T;
  if (Array.isArray(value)) return value.map(roundTree) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = roundTree(v);
    return out as T;
  }
  return value;
}
