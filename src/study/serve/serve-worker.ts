import { laneWorker } from '../../sweep/pool.js';
import { runServeTask } from './runs.js';

/** Piscina worker entry: a lane of the serving study's runs (see runs.ts). */
export default laneWorker(runServeTask);
