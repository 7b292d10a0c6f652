/**
 * The software layer: model zoo, op graphs, parallelism and lowering to kernel traces
 * (src/trace/types.ts). src/sw never imports hardware internals: it meets src/hw at the trace.
 */
export { getModel, listModels, parameterCount, parameterTensors, layerMatmulParams, modelWidths, mlmPredictionsPerSeq, MLM_MASKED_FRACTION, type ModelSpec } from './models/index.js';
export { buildTrainingTrace, type TrainingOptions } from './train/build.js';
export { PRECISIONS, precisionPlan, type Precision, type PrecisionPlan } from './train/precision.js';
export { OPTIMIZER_IMPLS, OPTIMIZERS, ZERO_STAGES, type OptimizerImpl, type OptimizerKind, type ZeroStage } from './train/optimizer.js';
export { bucketBytesFromMib, DEFAULT_BUCKET_BYTES, DEFAULT_BUCKET_MIB } from './train/buckets.js';
export { buildPrefillTrace, buildDecodeTrace, buildIterationTrace, type PrefillOptions, type DecodeOptions, type IterationOptions } from './infer/build.js';
export { buildForwardGraph, trainingHeadRows, type ForwardPlan, type AttentionGroup } from './graph/build.js';
export { fuseBiasActivation } from './graph/fusion.js';
export { rankWidths, checkTpSplit, balancedExpertTokens, type RankWidths } from './graph/shard.js';
export type { Op, OpGraph, OpKind, ParamTensor, PointwiseFn } from './graph/ops.js';
export { lowerForward, lowerBackward, matmulFlops, type LoweredNode, type LowerContext } from './lower/kernels.js';
export { COMPUTE_STREAM, COMM_STREAM } from './lower/emit.js';
export { summariseTrace, summariseProgram, passMatmulFlops, type TraceSummary } from './analysis.js';
