/** Piscina worker entry: each task is one sweep point (see point-task.ts). */
export { runPointTask as default } from './point-task.js';
