import '../study/index.js';
import { SilicaError } from '../core/errors.js';
import { resolveExperiment, runExperiment } from './experiment.js';

/**
 * One sweep point, run in a pool worker (or in-process for --jobs 1). The worker re-resolves the
 * point's raw tree itself, so nothing but plain data crosses the thread boundary, and it returns
 * failures as values: a SilicaError's one-line message must survive the trip to the CLI edge.
 */
export interface PointTask {
  raw: unknown;
  file: string;
  baseDir: string;
  label: string;
  outDir?: string;
}

export type PointOutcome =
  | { ok: true; rows: Array<Record<string, string | number | boolean>>; summary?: Record<string, unknown>; files?: string[] }
  | { ok: false; message: string; user: boolean };

export async function runPointTask(task: PointTask): Promise<PointOutcome> {
  try {
    const exp = resolveExperiment(task.raw, task.file, task.baseDir, task.label);
    const result = await runExperiment(exp, { outDir: task.outDir });
    return { ok: true, rows: result.rows, summary: result.summary, files: result.files };
  } catch (err) {
    if (err instanceof SilicaError) return { ok: false, message: err.message, user: true };
    return { ok: false, message: err instanceof Error ? err.message : String(err), user: false };
  }
}
