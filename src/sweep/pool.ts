import { currentPins, pinFiles, type PinnedFile } from '../core/pinned-files.js';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { SilicaError } from '../core/errors.js';

/**
 * Runs tasks on `jobs` lanes: this thread plus jobs - 1 worker threads (piscina). This thread
 * already has every module loaded and compiled, so using it as a lane saves a worker's start-up
 * (a third of a second of module loading on this code base) and its JIT warm-up; --jobs 1 is this
 * thread alone. Results arrive in completion order through `onDone`.
 *
 * Work is claimed, not dealt: every lane takes the next task index from one shared counter
 * (Atomics.add on a SharedArrayBuffer) whenever it is free. Dealing tasks out through piscina's
 * queue depended on this thread's event loop, which runs only between its own tasks: a worker
 * either idled until this thread looked, or held tasks queued that it could not give back (a
 * worker still starting up sat on four of ten half-second points while this thread ran out of
 * work). Claiming needs no one to hand work over, and the lanes finish within one task of each
 * other. Each worker runs one piscina task, its lane, and sends outcomes back on a port of its own.
 *
 * `WorkerPool.start` can be called before the work is even loaded, so the workers load their
 * modules while this thread expands and validates the points.
 */

/**
 * A task function, and the worker module whose default export runs the same function as a lane
 * (`laneWorker(run, ...)`), possibly moving buffers of the outcome instead of copying them.
 */
export interface TaskRunner<Task, Outcome> {
  run: (task: Task) => Promise<Outcome>;
  workerFile: URL;
}

/**
 * What each worker thread loads: a CommonJS file that imports the runner's worker module
 * (./lane-shim.cjs says why piscina must not load the ES module itself). Beside this module in
 * src, dist/src (tsc copies it) and dist/bundle (scripts/bundle.mjs copies it).
 */
const LANE_SHIM = new URL('./lane-shim.cjs', import.meta.url);

/**
 * A task's error as a value: thrown errors do not survive the trip between threads as themselves,
 * and a SilicaError's one-line message must reach the CLI edge as a SilicaError.
 */
export type TaskFailure = { ok: false; message: string; user: boolean };

export function taskFailure(err: unknown): TaskFailure {
  if (err instanceof SilicaError) return { ok: false, message: err.message, user: true };
  return { ok: false, message: err instanceof Error ? err.message : String(err), user: false };
}

/** The error a failed task threw, thrown again on the thread that waits for it. */
export function rethrowTaskFailure(f: TaskFailure): never {
  throw f.user ? new SilicaError(f.message) : new Error(f.message);
}

/** What a worker lane receives: every task, the shared claim counter, and where outcomes go. */
export interface LaneTask<Task> {
  tasks: readonly Task[];
  /** One Int32 on a SharedArrayBuffer: the index of the next unclaimed task. */
  claim: Int32Array;
  port: MessagePort;
  /** The files the starting thread had pinned (src/core/pinned-files.ts): the lane reads them so too. */
  pins?: Readonly<Record<string, PinnedFile>>;
}

type LaneMessage<Outcome> = { index: number; outcome: Outcome } | { end: true };

/**
 * The default export of a worker module: claims and runs tasks until none are left, posting each
 * outcome as it is ready. `transfer` names buffers of an outcome to move rather than copy.
 */
export function laneWorker<Task, Outcome>(run: (task: Task) => Promise<Outcome>, transfer: (outcome: Outcome) => ArrayBuffer[] = () => []) {
  return async ({ tasks, claim, port, pins }: LaneTask<Task>): Promise<void> => {
    pinFiles(pins);
    try {
      for (let i = Atomics.add(claim, 0, 1); i < tasks.length; i = Atomics.add(claim, 0, 1)) {
        const outcome = await run(tasks[i]!);
        port.postMessage({ index: i, outcome } satisfies LaneMessage<Outcome>, transfer(outcome));
      }
    } finally {
      // After every outcome on the same port, so the receiving side knows it has them all.
      port.postMessage({ end: true } satisfies LaneMessage<Outcome>);
    }
  };
}

export class WorkerPool<Task, Outcome> {
  private constructor(
    readonly workers: number,
    private readonly runner: TaskRunner<Task, Outcome>,
    private readonly pool: Piscina<LaneTask<Task>, void> | undefined,
  ) {}

  /** A pool for `jobs` lanes: jobs - 1 threads (none for jobs <= 1). */
  static start<Task, Outcome>(jobs: number, runner: TaskRunner<Task, Outcome>): WorkerPool<Task, Outcome> {
    const workers = Math.max(0, jobs - 1);
    // Constructed here and now, not after an await: the threads boot (and load their modules)
    // while this thread goes on synchronously expanding the sweep. No atomics: by default a
    // piscina worker waits for its first task in Atomics.wait, which blocks its event loop, so the
    // import() that ./lane-shim.cjs starts could not finish until a task arrived: the worker
    // loaded its modules only once this thread had expanded the sweep and handed out the points
    // (on the bench sweep it ran its first point 0.3 s after that, instead of at once). Lanes take their work from a
    // shared counter and a port of their own, so piscina's atomics saved nothing here.
    const pool = workers
      ? new Piscina<LaneTask<Task>, void>({ filename: LANE_SHIM.href, workerData: { laneModule: runner.workerFile.href }, minThreads: workers, maxThreads: workers, idleTimeout: 1000, concurrentTasksPerWorker: 1, atomics: 'disabled' })
      : undefined;
    return new WorkerPool(workers, runner, pool);
  }

  /**
   * Runs every item; `beforeOwnWork` runs on this thread before it claims its first task: serial
   * work placed there (writing the resolved config of a large sweep) overlaps the workers' start.
   * After a failure no lane claims another task; outcomes of tasks already running still arrive.
   */
  async run<T extends { task: Task }>(items: readonly T[], onDone: (item: T, outcome: Outcome) => void, beforeOwnWork?: () => void | Promise<void>): Promise<void> {
    const claim = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    let failure: unknown;
    const fail = (err: unknown) => {
      failure ??= err;
      Atomics.store(claim, 0, items.length);
    };
    let completed = 0;
    let everyTaskDone!: () => void;
    const allDone = new Promise<void>((resolve) => (everyTaskDone = resolve));
    const finished = (index: number, outcome: Outcome) => {
      try {
        onDone(items[index]!, outcome);
      } catch (err) {
        fail(err);
      }
      if (++completed === items.length) everyTaskDone();
    };
    // With fewer tasks than lanes, the extra workers simply stay idle.
    const lanes: Array<Promise<void>> = [];
    if (this.pool && items.length > 1) {
      const tasks = items.map((item) => item.task);
      const pins = currentPins();
      for (let w = 0; w < this.workers; w++) lanes.push(remoteLane(this.pool, tasks, claim, finished, pins).catch(fail));
    }
    try {
      await beforeOwnWork?.();
      for (let i = Atomics.add(claim, 0, 1); i < items.length; i = Atomics.add(claim, 0, 1)) {
        finished(i, await this.runner.run(items[i]!.task));
        // A task is synchronous CPU work: let worker outcomes and the progress bar in between.
        await yieldToEvents();
      }
    } catch (err) {
      fail(err);
    }
    // Once every task is done, a worker still starting up has nothing left to claim: do not wait
    // for it (a sweep of a few short points would otherwise last as long as a worker's start-up;
    // close() stops it). After a failure, the tasks still running are waited for.
    await Promise.race([allDone, Promise.all(lanes)]);
    if (failure !== undefined) throw failure;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

/** One worker's lane: resolves once the worker's task has returned and its last outcome arrived. */
async function remoteLane<Task, Outcome>(
  pool: Piscina<LaneTask<Task>, void>,
  tasks: readonly Task[],
  claim: Int32Array,
  finished: (index: number, outcome: Outcome) => void,
  pins: Readonly<Record<string, PinnedFile>> | undefined,
): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  let ended!: () => void;
  const allArrived = new Promise<void>((resolve) => (ended = resolve));
  port1.on('message', (m: LaneMessage<Outcome>) => ('end' in m ? ended() : finished(m.index, m.outcome)));
  try {
    // The task's own result and the port's messages travel separately: wait for both.
    await Promise.all([allArrived, pool.run({ tasks, claim, port: port2, ...(pins ? { pins } : {}) }, { transferList: [port2] })]);
  } finally {
    port1.close();
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
