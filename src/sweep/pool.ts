import { runPointTask, type PointOutcome, type PointTask } from './point-task.js';

/**
 * Runs point tasks on `jobs` worker threads (piscina), or in this thread for jobs = 1 (no thread
 * start-up, the baseline the --jobs benchmark compares against). Results arrive in completion
 * order through `onDone`; at most 2 x jobs tasks are in flight, so huge sweeps hold little memory.
 */
export async function runTasks<T extends { task: PointTask }>(
  items: readonly T[],
  jobs: number,
  onDone: (item: T, outcome: PointOutcome) => void,
): Promise<void> {
  if (items.length === 0) return;
  const threads = Math.min(jobs, items.length);
  if (threads <= 1) {
    for (const item of items) onDone(item, await runPointTask(item.task));
    return;
  }
  const { Piscina } = await import('piscina');
  const pool = new Piscina<PointTask, PointOutcome>({
    filename: new URL('./worker.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 1000,
  });
  let failure: unknown;
  try {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length && failure === undefined) {
        const item = items[next++]!;
        const outcome = await pool.run(item.task);
        onDone(item, outcome);
      }
    };
    await Promise.all(Array.from({ length: Math.min(2 * threads, items.length) }, () => lane().catch((err) => (failure ??= err))));
  } finally {
    await pool.destroy();
  }
  if (failure !== undefined) throw failure;
}
