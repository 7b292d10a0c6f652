import '../study/index.js';
import { SilicaError } from '../core/errors.js';
import type { ExperimentResult } from '../study/registry.js';
import { resolveExperiment, runExperiment } from './experiment.js';
import { taskFailure, type TaskFailure, type TaskRunner } from './pool.js';
import { pointTableWithLead, type Cell, type PointTable, type Row } from './results.js';
import { pointLabel } from './spec.js';

/**
 * One experiment point, run in a pool worker (or in-process on the pool's own lane). The worker
 * re-resolves the point's raw tree itself, so nothing but plain data crosses the thread boundary,
 * and it returns failures as values: a SilicaError's one-line message must survive the trip to
 * the CLI edge.
 */
export interface PointTask {
  raw: unknown;
  file: string;
  baseDir: string;
  label: string;
  outDir?: string;
}

export type PointOutcome = { ok: true; rows: Row[]; summary?: Record<string, unknown>; files?: string[] } | TaskFailure;

async function runPoint(task: PointTask): Promise<ExperimentResult> {
  const exp = resolveExperiment(task.raw, task.file, task.baseDir, task.label);
  // One lane per point: the pool running the points is the parallelism (a t3 or serve point would
  // otherwise start workers of its own in every lane).
  return runExperiment(exp, { outDir: task.outDir, lanes: 1 });
}

export async function runPointTask(task: PointTask): Promise<PointOutcome> {
  try {
    const result = await runPoint(task);
    return { ok: true, rows: result.rows, summary: result.summary, files: result.files };
  } catch (err) {
    return taskFailure(err);
  }
}

export const pointRunner: TaskRunner<PointTask, PointOutcome> = { run: runPointTask, workerFile: new URL('./worker.js', import.meta.url) };

/**
 * A sweep point: the rows come back tagged with the point's index, id and axis values and already
 * serialised (see PointTable), so a sweep's writing thread only appends bytes.
 */
export interface SweepPointTask extends Omit<PointTask, 'label'> {
  point: number;
  point_id: string;
  tags: Record<string, Cell>;
}

export type SweepPointOutcome = { ok: true; table: PointTable; summary?: Record<string, unknown> } | TaskFailure;

export async function runSweepPointTask(task: SweepPointTask): Promise<SweepPointOutcome> {
  try {
    // The label is made here, not sent: a sweep sends every task to every worker at once.
    const label = pointLabel(task.point, task.tags);
    const result = await runPoint({ ...task, label });
    for (const row of result.rows) checkTags(task, label, row);
    const lead: Row = { point: task.point, point_id: task.point_id, ...task.tags };
    return { ok: true, table: pointTableWithLead(lead, result.rows), ...(result.summary ? { summary: result.summary } : {}) };
  } catch (err) {
    return taskFailure(err);
  }
}

/**
 * A row is prefixed with its point and tags (pointTableWithLead). A tag may share a name with a
 * column of the row (an axis over `hw` and the row's `hw`) only where both say the same;
 * otherwise the table would lie.
 */
function checkTags(task: SweepPointTask, label: string, row: Row): void {
  for (const k in task.tags) {
    if (k in row && row[k] !== task.tags[k]) {
      throw new SilicaError(
        `${task.file}: ${label}: column ${k} is both a sweep tag (${task.tags[k]}) and a column of the experiment's rows (${JSON.stringify(row[k])}); name the axis differently: {name: ..., values: [...]}`,
      );
    }
  }
  if ('point' in row || 'point_id' in row) throw new SilicaError(`${task.file}: the experiment's rows have a point or point_id column, which sweeps reserve`);
}
