/**
 * The record of the sweep benchmark's runs (bench/records/sweep-speedup.csv): one row per run of
 * `npm run bench -- sweep` kept since session 5, so the counts the docs quote ("N of M runs reach
 * 1.7x") are computed from data, not tallied by hand. bench/records/README.md says how a row is taken.
 */
import { readFileSync } from 'node:fs';
import Papa from 'papaparse';
import { percentile } from '../src/sw/serving/metrics.js';

/** The target for `--jobs 2` over `--jobs 1` on two idle cores. */
export const TARGET_SPEEDUP = 1.7;

export const RECORD_COLUMNS = [
  'sweep_points',
  'session',
  'commit',
  'where',
  'speedup_x',
  'pairs_x',
  'ceiling_x',
  'host_two_processes_x',
  'pure_arithmetic_x',
  'jobs1_s',
  'jobs2_s',
  'notes',
] as const;

export interface RecordedRun {
  sweep_points: number;
  session: number;
  /** Short hash of the code run; empty for the earliest sessions, which named none. */
  commit: string;
  where: 'fresh clone' | 'development checkout';
  /** Median of the run's three alternating pairs. */
  speedup_x: number;
}

/** Reads the record, checking every row; a bad row is an error naming its line. */
export function readSweepRecord(path: string): RecordedRun[] {
  const parsed = Papa.parse<Record<string, string>>(readFileSync(path, 'utf8'), { header: true, skipEmptyLines: true });
  const header = parsed.meta.fields ?? [];
  if (header.join(',') !== RECORD_COLUMNS.join(',')) throw new Error(`${path}: expected the columns ${RECORD_COLUMNS.join(',')}, got ${header.join(',')}`);
  return parsed.data.map((row, i) => {
    const at = `${path}: line ${i + 2}`;
    const num = (col: string) => {
      const v = Number(row[col]);
      if (row[col] === '' || !Number.isFinite(v) || v <= 0) throw new Error(`${at}: ${col}: expected a positive number, got ${JSON.stringify(row[col])}`);
      return v;
    };
    const where = row.where;
    if (where !== 'fresh clone' && where !== 'development checkout') throw new Error(`${at}: where: expected "fresh clone" or "development checkout", got ${JSON.stringify(where)}`);
    const commit = row.commit ?? '';
    if (commit !== '' && !/^[0-9a-f]{7}$/.test(commit)) throw new Error(`${at}: commit: expected a 7-digit short hash or nothing, got ${JSON.stringify(commit)}`);
    return { sweep_points: num('sweep_points'), session: num('session'), commit, where, speedup_x: num('speedup_x') };
  });
}

export interface RecordSummary {
  runs: number;
  /** Runs at or above TARGET_SPEEDUP. */
  reaching: number;
  median: number;
  min: number;
  max: number;
}

export function summariseRecord(runs: readonly RecordedRun[], sweepPoints: number): RecordSummary {
  const speedups = Float64Array.from(runs.filter((r) => r.sweep_points === sweepPoints).map((r) => r.speedup_x)).sort();
  return {
    runs: speedups.length,
    reaching: speedups.filter((s) => s >= TARGET_SPEEDUP).length,
    median: percentile(speedups, 50),
    min: speedups[0] ?? NaN,
    max: speedups[speedups.length - 1] ?? NaN,
  };
}

/** A summary as docs/sweep-benchmark.md's per-session table writes it: runs, reaching, range, median. */
export function summaryCell(s: RecordSummary): string {
  if (s.runs === 0) return '';
  const range = s.min === s.max ? `${s.min.toFixed(2)}x` : `${s.min.toFixed(2)}–${s.max.toFixed(2)}x`;
  return `${s.runs}, ${s.reaching}, ${range}, ${s.median.toFixed(2)}x`;
}

/** The sessions of the record, in order. */
export function recordSessions(runs: readonly RecordedRun[]): number[] {
  return [...new Set(runs.map((r) => r.session))].sort((a, b) => a - b);
}
