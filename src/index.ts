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
