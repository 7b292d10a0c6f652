/** Piscina worker entry: each task is one sweep point, returned as serialised rows (see point-task.ts). */
export { runSweepPointTask as default } from './point-task.js';
