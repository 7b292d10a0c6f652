/** Registers every validation runner. Study runners live next to their studies' APIs. */
import './runners.js';
export { registerRunner, runnerFor } from './runners.js';
export { runValidation, type ValidationReport, type PointResult } from './run.js';
export { shippedPoints, loadPointFile, type ValidationPoint } from './points.js';
import './study-runners.js';
import './corun.js';
import './serving.js';
