/**
 * Importing this module registers every experiment kind. Add one import line per study.
 */
export { registerExperiment, experimentKind, experimentKinds, type ExperimentKind, type ExperimentResult, type ExperimentContext } from './registry.js';
