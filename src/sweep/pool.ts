import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { Piscina } from 'piscina';

/**
 * Runs tasks on `jobs` lanes: this thread plus jobs - 1 worker threads (piscina). This thread
 * already has every module loaded and compiled, so using it as a lane saves a worker's start-up
 * (most of a second of module loading on this code base) and its JIT warm-up; --jobs 1 is this
 * thread alone. Results arrive in completion order through `onDone`.
 *
 * `WorkerPool.start` can be called before the work is even loaded, so the workers load their
 * modules while this thread expands and validates the points.
 */
const QUEUED_PER_WORKER = 4;

/**
 * A task function, and the worker module whose default export runs the same task (it may differ
 * in how the outcome travels back, e.g. transferring buffers instead of copying them).
 */
export interface TaskRunner<Task, Outcome> {
  run: (task: Task) => Promise<Outcome>;
  workerFile: URL;
}

export class WorkerPool<Task, Outcome> {
  private constructor(
    readonly workers: number,
    private readonly runner: TaskRunner<Task, Outcome>,
    private readonly pool: Piscina<Task, Outcome> | undefined,
  ) {}

  /** A pool for `jobs` lanes: jobs - 1 threads (none for jobs <= 1). */
  static start<Task, Outcome>(jobs: number, runner: TaskRunner<Task, Outcome>): WorkerPool<Task, Outcome> {
    const workers = Math.max(0, jobs - 1);
    // Constructed here and now, not after an await: the threads boot (and load their modules)
    // while this thread goes on synchronously expanding the sweep.
    const pool = workers
      ? new Piscina<Task, Outcome>({
          filename: runner.workerFile.href,
          minThreads: workers,
          maxThreads: workers,
          idleTimeout: 1000,
          // Piscina hands a worker its next task only when this thread's event loop runs, which
          // it does between this thread's own points: posting tasks ahead keeps workers busy.
          concurrentTasksPerWorker: QUEUED_PER_WORKER,
        })
      : undefined;
    return new WorkerPool(workers, runner, pool);
  }

  /**
   * Runs every item; `beforeOwnWork` runs on this thread once the workers hold their first tasks
   * and before this thread takes its own first one: serial work placed there (writing the resolved
   * config of a large sweep) overlaps the workers' start instead of delaying it.
   */
  async run<T extends { task: Task }>(items: readonly T[], onDone: (item: T, outcome: Outcome) => void, beforeOwnWork?: () => void | Promise<void>): Promise<void> {
    let next = 0;
    let failure: unknown;
    const take = (): T | undefined => (failure === undefined && next < items.length ? items[next++] : undefined);
    const fail = (err: unknown) => {
      failure ??= err;
    };
    const local = async (): Promise<void> => {
      await beforeOwnWork?.();
      for (let item = take(); item; item = take()) {
        onDone(item, await this.runner.run(item.task));
        // A task is synchronous CPU work: let worker results and the progress bar in between.
        await yieldToEvents();
      }
    };
    // With fewer tasks than lanes, the extra workers simply stay idle.
    const lanes: Array<Promise<void>> = [];
    const pool = this.pool;
    if (pool && items.length > 1) {
      // Piscina takes its new threads into service in a microtask: let it run, or the tasks below
      // would wait in its queue until this thread's first own point (and beforeOwnWork) is done.
      await yieldToEvents();
      const remote = async (): Promise<void> => {
        for (let item = take(); item; item = take()) onDone(item, await pool.run(item.task));
      };
      // Workers first: their queues fill before this thread starts computing.
      for (let i = 0; i < QUEUED_PER_WORKER * this.workers; i++) lanes.push(remote().catch(fail));
    }
    lanes.push(local().catch(fail));
    await Promise.all(lanes);
    if (failure !== undefined) throw failure;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

/** Runs the tasks on `jobs` lanes with a pool of its own (studies that fan out their own points use this). */
export async function runTasks<Task, Outcome, T extends { task: Task }>(
  runner: TaskRunner<Task, Outcome>,
  items: readonly T[],
  jobs: number,
  onDone: (item: T, outcome: Outcome) => void,
): Promise<void> {
  const pool = WorkerPool.start(Math.min(jobs, items.length), runner);
  try {
    await pool.run(items, onDone);
  } finally {
    await pool.close();
  }
}
