/**
 * Importing this module registers every experiment kind. Add one import line per study.
 */
export { registerExperiment, experimentKind, experimentKinds, type ExperimentKind, type ExperimentResult, type ExperimentContext } from './registry.js';
import './corun.js';
import './kernels.js';
import './suite.js';
import './bert/index.js';
import './serve/index.js';
import './t3/index.js';
