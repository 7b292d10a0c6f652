import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSweepRecord, recordSessions, summariseRecord, summaryCell, TARGET_SPEEDUP, type RecordedRun } from '../../bench/record.js';

/**
 * The sweep benchmark's record (bench/records/sweep-speedup.csv) is data the docs quote: every row
 * must parse, and the counts in README.md, docs/sweeps.md and docs/sweep-benchmark.md must be the file's, so a run added to
 * the record without updating the prose (or prose edited by hand) fails here.
 */
const RECORD = new URL('../../bench/records/sweep-speedup.csv', import.meta.url).pathname;
const read = (rel: string) => readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8').replace(/\s+/g, ' ');

describe('the sweep benchmark record', () => {
  const runs = readSweepRecord(RECORD);

  it('holds runs of both bench sweeps, each speedup a ratio of wall times a pair of runs could give', () => {
    expect(new Set(runs.map((r) => r.sweep_points))).toEqual(new Set([1024, 2048]));
    for (const r of runs) {
      // Two lanes on two cores: above 2x is not a measurement; below 1x would mean --jobs 2 ran slower.
      expect(r.speedup_x).toBeGreaterThan(1);
      expect(r.speedup_x).toBeLessThanOrEqual(2.2);
    }
  });

  it.each([1024, 2048])('README.md and docs/sweeps.md quote the %i-point sweep\'s counts from the file', (points) => {
    const s = summariseRecord(runs, points);
    expect(s.runs).toBeGreaterThan(0);
    const phrase = `${s.reaching} of the ${s.runs} recorded runs of the ${points}-point sweep`;
    expect(read('README.md')).toContain(phrase);
    expect(read('docs/sweeps.md')).toContain(phrase);
    expect(read('docs/sweeps.md')).toContain(`median ${s.median.toFixed(2)}x`);
    expect(read('docs/sweep-benchmark.md')).toContain(phrase);
  });

  it("docs/sweep-benchmark.md's per-session table is the file's", () => {
    const doc = readFileSync(new URL('../../docs/sweep-benchmark.md', import.meta.url), 'utf8');
    const cellsOf = (session: number) => {
      const line = doc.split('\n').find((l) => l.startsWith(`| ${session} | `));
      return line?.split('|').slice(3, 5).map((c) => c.trim());
    };
    for (const session of recordSessions(runs)) {
      const of = (points: number) => summaryCell(summariseRecord(runs.filter((r) => r.session === session), points));
      expect(cellsOf(session), `session ${session}`).toEqual([of(1024), of(2048)]);
    }
  });

  it('names the line and column of a bad row', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-record-'));
    try {
      const file = join(dir, 'r.csv');
      const header = readFileSync(RECORD, 'utf8').split('\n')[0];
      writeFileSync(file, `${header}\n1024,5,,fresh clone,1.6,,,,,,,\n1024,5,,laptop,1.6,,,,,,,\n`);
      expect(() => readSweepRecord(file)).toThrow(`${file}: line 3: where: expected "fresh clone" or "development checkout", got "laptop"`);
      writeFileSync(file, `${header}\n1024,5,,fresh clone,fast,,,,,,,\n`);
      expect(() => readSweepRecord(file)).toThrow(`${file}: line 2: speedup_x: expected a positive number, got "fast"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts a run at the target as reaching it', () => {
    const run: RecordedRun = { sweep_points: 1024, session: 1, commit: '', where: 'fresh clone', speedup_x: TARGET_SPEEDUP };
    const at = summariseRecord([run], 1024);
    expect(at).toMatchObject({ runs: 1, reaching: 1, median: TARGET_SPEEDUP });
  });
});
