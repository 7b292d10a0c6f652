/** Piscina worker entry: each task is one experiment point (see point-task.ts). */
export { runPointTask as default } from './point-task.js';
