/**
 * silica's library API. The CLI is a thin layer over these functions; a user's own TypeScript can
 * import them to load hardware, build a system and simulate kernels, traces and studies.
 */
export { SilicaError } from './core/errors.js';
export { Simulator, type FlowSpec, type Flow } from './core/simulator.js';
export { makeResource, solveRates, type Resource } from './core/flow-network.js';
export { EventQueue } from './core/event-queue.js';
export { Rng } from './core/rng.js';
export { StatsRegistry } from './core/stats.js';
export { parseBytes, formatBytes } from './core/units.js';
export { loadHardware, listPresets } from './hw/config/load.js';
export { hardwareSchema, DTYPES, DTYPE_BYTES, type HardwareConfig, type Dtype } from './hw/config/schema.js';
export { System, simulateKernel, type KernelRun } from './hw/system.js';
export { Gpu, Stream, type KernelRecord } from './hw/gpu/gpu.js';
export { makeCuLayout, type CuLayout } from './hw/gpu/cu-layout.js';
export { parseCuMask, firstNCus, fullCuSet, cuRange, maskHex, type CuSet } from './hw/gpu/cu-mask.js';
export { timeKernel, type KernelTiming } from './hw/gpu/kernel-timing.js';
export { gemmCost, type GemmShape } from './kernels/gemm.js';
export { elementwiseCost, streamCost, memcpyCost } from './kernels/elementwise.js';
export { rowReductionCost } from './kernels/reduction.js';
export { flashAttentionCost, attendedPairs } from './kernels/attention.js';
export type { KernelCost, OpCategory, Pass } from './kernels/types.js';
export { getModel, listModels, parameterCount, buildTrainingTrace, buildPrefillTrace, buildDecodeTrace, buildIterationTrace, summariseTrace, type ModelSpec, type TrainingOptions } from './sw/index.js';
export { Interconnect, interconnectOf, type Link, type LinkKind } from './hw/link/topology.js';
export { dmaTransfer, dmaEnginesOf, type DmaTransfer } from './hw/dma/dma.js';
export {
  startCollective,
  simulateCollective,
  busBwFactor,
  COLLECTIVE_KINDS,
  type CollectiveKind,
  type CollectiveSpec,
  type CollectiveOutcome,
  type CollectiveRun,
} from './hw/collectives/index.js';
export { runCuOverlap, type CuOverlapResult } from './hw/collectives/cu-overlap.js';
export { replayTrace, type ReplayOptions, type ReplayResult, type ReplayRecord, type ReplayCollective, type ReplayStats } from './trace/replay.js';
export { encodeSilicaTrace, decodeSilicaTrace } from './trace/silica-format.js';
export { readChakraTrace, chakraToTrace, type ChakraImport } from './trace/chakra/convert.js';
export { encodeChakraTrace, type ChakraExport } from './trace/chakra/writer.js';
export { loadTrace, writeTrace, type LoadedTrace } from './trace/load.js';
export { chromeTrace, type ChromeTrace } from './trace/chrome.js';
export { inspectTrace, inspectChakraFile } from './trace/summary.js';
export type { Trace, TraceNode, TraceMeta, TraceCollectiveKind } from './trace/types.js';
export * as serving from './sw/serving/index.js';
export { runSublayer, runConfiguration, runT3Experiment, CONFIGURATIONS as T3_CONFIGURATIONS, SUBLAYERS as T3_SUBLAYERS, sublayerGemm, type ConfigResult as T3ConfigResult } from './study/t3/index.js';
