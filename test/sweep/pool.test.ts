import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { threadId } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerPool, type TaskRunner } from '../../src/sweep/pool.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from './helpers.js';

/**
 * The lane pool on its own: every task runs exactly once whichever lane claims it, outcomes of
 * worker lanes come back, and after a failure no lane claims more work. The worker is a tiny module
 * built on the compiled laneWorker (npm test builds first), so the test exercises the real
 * thread boundary: a shared claim counter, a transferred port, moved buffers.
 */
type Task = { n: number };
type Outcome = { n: number; square: number; thread: number; bytes: Uint8Array };

const dir = tempDir('pool');
const workerFile = join(dir, 'square-worker.mjs');
const laneModule = pathToFileURL(join(ROOT, 'dist', 'src', 'sweep', 'pool.js')).href;
writeFileSync(
  workerFile,
  `import { threadId } from 'node:worker_threads';
import { laneWorker } from ${JSON.stringify(laneModule)};
export default laneWorker(
  async ({ n }) => ({ n, square: n * n, thread: threadId, bytes: new Uint8Array([n % 256]) }),
  (o) => [o.bytes.buffer],
);
`,
);

/**
 * This thread's lane holds its first task until a worker outcome has arrived (the promise lets
 * the event loop deliver it), so the workers surely take part however fast this thread is.
 */
let workerSeen: () => void = () => {};
let workerTookPart = Promise.resolve();
const expectWorkers = () => (workerTookPart = new Promise<void>((resolve) => (workerSeen = resolve)));

/** A worker that takes a minute to start: a run must not wait for it once every task is done. */
const slowWorkerFile = join(dir, 'slow-worker.mjs');
writeFileSync(
  slowWorkerFile,
  `import { laneWorker } from ${JSON.stringify(laneModule)};
await new Promise((resolve) => setTimeout(resolve, 60_000));
export default laneWorker(async ({ n }) => ({ n, square: n * n, thread: -1, bytes: new Uint8Array(1) }));
`,
);

/**
 * A worker module that says how it was loaded: through require() (frames of CommonJS loading on
 * the stack while it evaluates) or through import(). A worker terminated inside Node's synchronous
 * require() of an ES module aborts the process (src/sweep/lane-shim.cjs), so lanes must be loaded
 * by import().
 */
const loadWatchFile = join(dir, 'load-watch-worker.mjs');
writeFileSync(
  loadWatchFile,
  `import { threadId } from 'node:worker_threads';
import { laneWorker } from ${JSON.stringify(laneModule)};
const viaRequire = /Module\\._load|loadESMFromCJS|importSyncForRequire/.test(new Error().stack ?? '');
export default laneWorker(async ({ n }) => ({ n, square: viaRequire ? -1 : n * n, thread: threadId, bytes: new Uint8Array(1) }));
`,
);

/**
 * A worker module that leaves a file behind as it is evaluated: the pool's workers must load their
 * module as soon as they start, before any task is handed out, so that a sweep's worker loads while
 * this thread expands the sweep (piscina's default, waiting for tasks in Atomics.wait, held the
 * load back until the first task arrived).
 */
const loadedMark = join(dir, 'eager-worker-loaded');
const eagerWorkerFile = join(dir, 'eager-worker.mjs');
writeFileSync(
  eagerWorkerFile,
  `import { existsSync, writeFileSync } from 'node:fs';
import { laneWorker } from ${JSON.stringify(laneModule)};
writeFileSync(${JSON.stringify(loadedMark)}, 'loaded');
export default laneWorker(async ({ n }) => ({ n, square: n * n, thread: -1, bytes: new Uint8Array(1) }));
`,
);

const runner: TaskRunner<Task, Outcome> = {
  run: async ({ n }) => {
    await workerTookPart;
    return { n, square: n * n, thread: threadId, bytes: new Uint8Array([n % 256]) };
  },
  workerFile: pathToFileURL(workerFile),
};

const pools: Array<WorkerPool<Task, Outcome>> = [];
const startPool = (jobs: number) => {
  const pool = WorkerPool.start(jobs, runner);
  pools.push(pool);
  return pool;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

const items = (count: number) => Array.from({ length: count }, (_, n) => ({ n, task: { n } }));

describe('WorkerPool: lanes claim tasks from one counter', () => {
  it('runs every task exactly once on three lanes, and worker outcomes arrive intact', async () => {
    const pool = startPool(3);
    expectWorkers();
    const seen = new Map<number, Outcome>();
    const duplicates: number[] = [];
    await pool.run(items(500), (item, outcome) => {
      if (seen.has(item.n)) duplicates.push(item.n);
      expect(outcome.n).toBe(item.n);
      seen.set(item.n, outcome);
      if (outcome.thread !== threadId) workerSeen();
    });
    expect(duplicates).toEqual([]);
    expect(seen.size).toBe(500);
    expect(new Set([...seen.values()].map((o) => o.thread)).size).toBeGreaterThan(1);
    for (const [n, o] of seen) {
      expect(o.square).toBe(n * n);
      expect(o.bytes[0]).toBe(n % 256);
    }
  });

  it('is this thread alone with --jobs 1', async () => {
    const pool = startPool(1);
    workerTookPart = Promise.resolve();
    const threads = new Set<number>();
    await pool.run(items(20), (_, o) => threads.add(o.thread));
    expect([...threads]).toEqual([threadId]);
  });

  it('returns once every task is done, without waiting for a worker still starting up', async () => {
    const pool = WorkerPool.start(2, { run: runner.run, workerFile: pathToFileURL(slowWorkerFile) });
    workerTookPart = Promise.resolve();
    const threads = new Set<number>();
    let done = 0;
    await pool.run(items(10), (_, o) => {
      threads.add(o.thread);
      done++;
    });
    expect(done).toBe(10);
    expect([...threads]).toEqual([threadId]);
    await pool.close();
  }, 20_000);

  it('loads a worker lane by import(), never by require() (whose interrupted load aborts the process)', async () => {
    const pool = WorkerPool.start(2, { run: runner.run, workerFile: pathToFileURL(loadWatchFile) });
    pools.push(pool);
    expectWorkers();
    const fromWorkers: Outcome[] = [];
    await pool.run(items(200), (_, o) => {
      if (o.thread !== threadId) {
        fromWorkers.push(o);
        workerSeen();
      }
    });
    expect(fromWorkers.length).toBeGreaterThan(0);
    for (const o of fromWorkers) expect(o.square, 'the worker module was evaluated inside require()').toBe(o.n * o.n);
  });

  it('loads a worker module as soon as the pool starts, before any task is handed out', async () => {
    const pool = WorkerPool.start(2, { run: runner.run, workerFile: pathToFileURL(eagerWorkerFile) });
    pools.push(pool);
    // No run(): the pool only exists. A worker that waits for its first task never loads.
    const deadline = Date.now() + 15_000;
    while (!existsSync(loadedMark) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(existsSync(loadedMark), 'the worker had not loaded its module 15 s after the pool started').toBe(true);
  }, 20_000);

  it('stops claiming after a failure and rethrows it once every running task is back', async () => {
    const pool = startPool(2);
    workerTookPart = Promise.resolve();
    let calls = 0;
    const run = pool.run(items(100_000), (item) => {
      calls++;
      if (item.n === 5) throw new Error('point 5 failed');
    });
    await expect(run).rejects.toThrow('point 5 failed');
    // Each lane finishes at most the task it had claimed when the failure landed, plus what a
    // worker completed before this thread saw the failure; nowhere near the 100,000 tasks.
    expect(calls).toBeLessThan(100_000);
  });
});
