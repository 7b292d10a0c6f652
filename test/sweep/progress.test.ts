import { describe, expect, it, vi } from 'vitest';
import { makeProgress, type ProgressOptions } from '../../src/sweep/progress.js';

/** A non-terminal stream (a batch job's log) that keeps what is written to it. */
function logStream(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  const text: string[] = [];
  const stream = { isTTY: false, write: (s: string) => text.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.join('').split('\n').filter(Boolean) };
}

function run(o: Omit<ProgressOptions, 'stream'>, updates: number[]): string[] {
  const log = logStream();
  const p = makeProgress({ ...o, stream: log.stream });
  for (const n of updates) p.update(n, `point ${n}`);
  p.stop();
  return log.lines();
}

/** Updates on a fake clock: each step moves it on by `afterMs`, then reports `done`; the lines printed. */
function onClock(o: Omit<ProgressOptions, 'stream'>, steps: Array<{ afterMs: number; done: number }>, { stop = false } = {}): string[] {
  vi.useFakeTimers({ toFake: ['performance'] });
  try {
    const log = logStream();
    const p = makeProgress({ ...o, stream: log.stream });
    for (const step of steps) {
      vi.advanceTimersByTime(step.afterMs);
      p.update(step.done);
    }
    if (stop) p.stop();
    return log.lines();
  } finally {
    vi.useRealTimers();
  }
}

describe('plain progress lines (stderr not a terminal)', () => {
  it('prints a line per interval, with an ETA from the second finished point until the end', () => {
    const lines = run({ total: 4, unit: 'points', intervalS: 0 }, [1, 2, 3, 4]);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^progress: 1\/4 points \(25%\), .* elapsed$/);
    expect(lines[1]).toMatch(/^progress: 2\/4 points \(50%\), .* elapsed, ETA /);
    expect(lines[3]).toMatch(/^progress: 4\/4 points \(100%\), .* elapsed$/);
  });

  it('says a run that reports its fraction done as a percentage, not as a count of 100', () => {
    const lines = run({ total: 100, unit: '%', intervalS: 0 }, [32, 100]);
    expect(lines[0]).toMatch(/^progress: 32%, .* elapsed$/);
    expect(lines[1]).toMatch(/^progress: 100%, .* elapsed$/);
  });

  it('measures the rate from the first finished point, not from a long start-up', () => {
    // The first point after 18 s of start-up, then 1000 more in 5 s: 200 a second, 8999 left.
    const lines = onClock({ total: 10_000, unit: 'points', intervalS: 5 }, [{ afterMs: 18_000, done: 1 }, { afterMs: 5000, done: 1001 }]);
    expect(lines[0]).toBe('progress: 1/10000 points (0%), 18.0 s elapsed');
    expect(lines[1]).toBe('progress: 1001/10000 points (10%), 23.0 s elapsed, ETA 45.0 s');
  });

  it('does not repeat the last line when the run stops right after it', () => {
    const lines = run({ total: 2, unit: 'points', intervalS: 0 }, [1, 2]);
    expect(lines.filter((l) => l.startsWith('progress: 2/2'))).toHaveLength(1);
  });

  it('ends with the final count when the last periodic line was earlier', () => {
    // 6 s in: a line; 1 s later: none, until the run stops.
    const lines = onClock({ total: 3, unit: 'points', intervalS: 5 }, [{ afterMs: 6000, done: 1 }, { afterMs: 1000, done: 3 }], { stop: true });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^progress: 1\/3 points \(33%\), 6\.0 s elapsed$/);
    expect(lines[1]).toMatch(/^progress: 3\/3 points \(100%\), 7\.0 s elapsed$/);
  });

  it('counts a resumed run from where it started', () => {
    const lines = run({ total: 10, start: 6, unit: 'points', intervalS: 0, announce: true }, [7]);
    expect(lines[0]).toMatch(/^progress: 6\/10 points \(60%\)/);
    expect(lines.at(-1)).toMatch(/^progress: 7\/10 points \(70%\)/);
  });

  it('prints nothing for a short run (no interval elapsed) unless asked to announce it', () => {
    expect(run({ total: 3, unit: 'points', intervalS: 3600 }, [1, 2, 3])).toEqual([]);
    const announced = run({ total: 3, unit: 'points', intervalS: 3600, announce: true }, [1, 2, 3]);
    expect(announced).toHaveLength(2);
    expect(announced[0]).toMatch(/^progress: 0\/3/);
    expect(announced[1]).toMatch(/^progress: 3\/3/);
  });

  it('hears from a run every interval while a long point updates nothing, naming what it reported last', () => {
    vi.useFakeTimers({ toFake: ['performance', 'setInterval', 'clearInterval'] });
    try {
      const log = logStream();
      const p = makeProgress({ total: 10, unit: 'points', intervalS: 5, stream: log.stream });
      p.update(0, 'the serving headline');
      // 12 s with no update: two lines, each repeating the count and the point reported last.
      vi.advanceTimersByTime(12_000);
      expect(log.lines()).toEqual([
        'progress: 0/10 points (0%), 5.0 s elapsed (last: the serving headline)',
        'progress: 0/10 points (0%), 10.0 s elapsed (last: the serving headline)',
      ]);
      // Progress since the last line: the next one says so and names nothing.
      p.update(4, 'the serving headline');
      vi.advanceTimersByTime(3000);
      expect(log.lines().at(-1)).toBe('progress: 4/10 points (40%), 15.0 s elapsed');
      p.stop();
      // Stopped: no more lines, however long the process lives on.
      const printed = log.lines().length;
      vi.advanceTimersByTime(60_000);
      expect(log.lines()).toHaveLength(printed);
    } finally {
      vi.useRealTimers();
    }
  });

  it('prints nothing at all when quiet', () => {
    expect(run({ total: 3, unit: 'points', intervalS: 0, quiet: true, announce: true }, [1, 2, 3])).toEqual([]);
  });
});
