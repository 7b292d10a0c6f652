import type { SweepPointOutcome, SweepPointTask } from './point-task.js';
import { WorkerPool, type TaskRunner } from './pool.js';

/**
 * The lanes a sweep's points run on, in a module that loads nothing of the simulator: `silica
 * sweep` starts them before it loads the studies and reads the sweep file, so a worker thread loads
 * its copy of the simulator while this thread loads its own (each about a fifth of a second of
 * compiling on this code base) instead of after.
 */
export type SweepPool = WorkerPool<SweepPointTask, SweepPointOutcome>;

let runSweepPoint: ((task: SweepPointTask) => Promise<SweepPointOutcome>) | undefined;

/** This thread's lane loads the point runner on its first point, by when the sweep has loaded the studies anyway. */
export const sweepPointRunner: TaskRunner<SweepPointTask, SweepPointOutcome> = {
  run: async (task) => (runSweepPoint ??= (await import('./point-task.js')).runSweepPointTask)(task),
  workerFile: new URL('./sweep-worker.js', import.meta.url),
};

export function startSweepPool(jobs: number): SweepPool {
  return WorkerPool.start(jobs, sweepPointRunner);
}
