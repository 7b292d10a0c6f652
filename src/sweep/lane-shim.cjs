'use strict';
/**
 * The file a pool's worker thread loads first (piscina's `filename`; src/sweep/pool.ts). It is
 * CommonJS, so piscina's require() of it is plain CommonJS; the lane's own ES module
 * (`workerData.laneModule`) is loaded with import() as the thread starts. Plain JavaScript beside
 * the sources, so that the tests (which run the TypeScript), dist/src (tsc copies it) and
 * dist/bundle (scripts/bundle.mjs copies it) all find it beside pool.
 *
 * Why not hand piscina the ES module itself: piscina require()s its worker file, and Node 20.19+
 * loads an ES module through require() synchronously. A worker terminated during that load (a
 * sweep whose points all ran before its worker finished loading, then closed its pool) aborts the
 * whole process with "FATAL ERROR: v8::Module::IsGraphAsync must be used on an instantiated
 * module": Node instantiates the module graph, is cut short by the termination, and then checks a
 * state the graph never reached. Seen in 1 of 80 and 1 of 300 runs of configs/sweeps/gemm-hw.yaml
 * with --jobs 2, and in a CI run; none in 300 runs through this file. import() instantiates the
 * graph asynchronously, and a termination there only ends the thread.
 */
const { workerData } = require('node:worker_threads');

// Started now, while the pool's creator is still preparing the work, as the module itself was.
const loading = import(workerData.laneModule).then((m) => m.default);
// A failed load is reported by the first task that awaits it, not as an unhandled rejection.
loading.catch(() => {});

module.exports = async function runLane(task) {
  return (await loading)(task);
};
