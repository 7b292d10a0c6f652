import { availableParallelism } from 'node:os';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { experimentLanes } from '../../src/study/registry.js';
import { expectOneLineError, silica } from '../helpers/cli.js';

describe('lanes of an experiment that runs its cases in parallel', () => {
  it('come from --jobs, else the file\'s jobs, else the caller\'s hint, else the cores up to 4', () => {
    expect(experimentLanes(undefined, {}, 100)).toBe(Math.min(4, availableParallelism()));
    expect(experimentLanes(undefined, { lanes: 1 }, 100)).toBe(1); // a sweep point
    expect(experimentLanes(3, { lanes: 1 }, 100)).toBe(3); // the file says so, even in a sweep
    expect(experimentLanes(3, { jobs: 2, lanes: 1 }, 100)).toBe(2); // the command line says so
  });

  it('silica run refuses a --jobs that is not a positive count within 4 per CPU, before any output', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-run-jobs-'));
    const run = (jobs: string) => silica(['run', 'configs/experiments/quickstart.yaml', '--out', join(dir, `o${jobs}`), '--jobs', jobs]);
    expectOneLineError(run('0'), /--jobs: expected a positive whole number, got "?0"?$/);
    expectOneLineError(run('abc'), /--jobs: expected a positive whole number, got "?abc"?$/);
    expectOneLineError(run('100000'), /--jobs: expected at most \d+ \(4 per CPU of this machine's \d+\), got 100000$/);
    for (const jobs of ['0', 'abc', '100000']) expect(existsSync(join(dir, `o${jobs}`))).toBe(false);
  });
});
