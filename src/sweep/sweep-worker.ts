import { runSweepPointTask } from './point-task.js';
import { laneWorker } from './pool.js';

/**
 * Piscina worker entry: a lane of sweep points. Each point's serialised rows go back to the
 * writing thread by transfer (the buffers change owner; nothing is copied), see PointTable.
 */
export default laneWorker(runSweepPointTask, (outcome) => (outcome.ok ? [outcome.table.jsonl.buffer as ArrayBuffer, outcome.table.csv.buffer as ArrayBuffer] : []));
