import { runPointTask } from './point-task.js';
import { laneWorker } from './pool.js';

/** Piscina worker entry: a lane of experiment points (see point-task.ts and pool.ts). */
export default laneWorker(runPointTask);
