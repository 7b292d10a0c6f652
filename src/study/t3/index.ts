/**
 * The T3 study (issue 5, mission.md §2): importing this module registers `kind: t3`.
 */
import './experiment.js';
export { CONFIGURATIONS, runConfiguration, runSublayer, type Configuration, type ConfigResult, type RunOptions } from './configs.js';
export { SUBLAYERS, PASS_OF, parseSublayer, sublayerGemm, type Sublayer } from './sublayers.js';
export { runT3Experiment, t3ExperimentSchema, type T3Experiment } from './experiment.js';
export { projectIteration, type ProjectionRow } from './projection.js';
export { PUBLISHED_T3 } from './published.js';
