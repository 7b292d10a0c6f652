/**
 * LLM serving on the hardware model: requests and workloads, paged KV cache, replicas, the
 * memoised iteration cost model, co-running streams, the Adaptive Resource Manager, policies
 * (continuous, hybrid, disagg, rapid), metrics and goodput. See docs/serving.md.
 */
import './policies/index.js';
export { runServing, type ServeRunOptions, type ServeRunResult } from './engine.js';
export { serveConfigSchema, parseServeConfig, resolveServe, runServe, goodputOf, searchGoodput, type ServeConfig, type GoodputResult } from './serve.js';
export { registerPolicy, policyKind, policyNames, type PolicyKind, type ServingPolicy, type PolicyContext, type ServeSettings } from './policy.js';
export { IterationCostModel, costModelFor, type PassCost, type PrefillPiece } from './cost-model.js';
export { simulateCorun, CorunMemo } from './corun.js';
export { AdaptiveResourceManager, type ArmEntry } from './arm.js';
export { KvBlockManager } from './kv-cache.js';
export { sizeReplica, Replica } from './replica.js';
export { loadRequestFile, requestsFromTrace, type RequestSpec } from './requests.js';
export { WORKLOAD_PRESETS, generateRequests, workloadPreset, type Workload } from './workloads.js';
export { MetricsCollector, defaultSlo, percentile, type SloConfig } from './metrics.js';
