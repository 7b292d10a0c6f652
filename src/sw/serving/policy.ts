import type { z } from 'zod';
import { Registry } from '../../core/registry.js';
import type { Simulator } from '../../core/simulator.js';
import type { Dtype, HardwareConfig } from '../../hw/config/schema.js';
import type { System } from '../../hw/system.js';
import type { ModelSpec } from '../models/index.js';
import type { ChromeTraceRecorder } from './chrome-trace.js';
import type { HostOverhead } from './host-overhead.js';
import type { IterationCostModel } from './cost-model.js';
import type { MetricsCollector } from './metrics.js';
import type { Replica } from './replica.js';
import type { Req } from './request-state.js';

/**
 * Serving policies are registered by name (the `--policy` flag and the experiment YAML use these
 * names), one file each, Ramulator/Vidur style: a policy owns its replicas and decides, at each
 * iteration boundary, what each stream of each replica runs next.
 */
export interface ServeSettings {
  tp: number;
  dtype: Dtype;
  kvDtype: Dtype;
  blockTokens: number;
  gpuMemoryUtilization: number;
  /** What to do when KV blocks run out: drop the KV and recompute it later, or swap it to host memory. */
  preemption: 'recompute' | 'swap';
  /** Most requests in one batch (vLLM max_num_seqs). */
  maxSeqs: number;
  /** Most tokens in one iteration of a non-chunking scheduler (vLLM max_num_batched_tokens). */
  maxBatchTokens: number;
  /** Host link bandwidth per GPU for KV swapping, GB/s (PCIe Gen5 x16 ~ 50 effective [U]). */
  hostLinkGbps: number;
  /** The engine's host time per iteration (host-overhead.ts); absent: none. */
  host?: HostOverhead;
}

export interface PolicyContext {
  sim: Simulator;
  system: System;
  hw: HardwareConfig;
  model: ModelSpec;
  /** GPUs of the node the policy may use (0 .. gpus-1). */
  gpus: number;
  settings: ServeSettings;
  /** Cost model for the default TP width (policies with other widths ask `costsFor`). */
  costs: IterationCostModel;
  costsFor(tp: number): IterationCostModel;
  metrics: MetricsCollector;
  trace?: ChromeTraceRecorder;
  /** The workload's mean lengths, known offline (what a profiling pass would size tables with). */
  workload: { meanPromptTokens: number; meanOutputTokens: number };
  /** A request completed or was rejected (drives progress reporting). */
  requestDone(req: Req): void;
  /**
   * Wakes a scheduler for a request that has just arrived: at once, or, while the engine hands in
   * several requests that arrive at the same instant (an offline batch, a burst), once all of them
   * are queued, so the first step sees every one of them waiting (as an engine's step would).
   */
  wakeOnArrival(scheduler: { kick(): void }): void;
}

export interface ServingPolicy {
  /** A request arrives now. */
  arrive(req: Req): void;
  /** Every replica, for KV and utilisation accounting. */
  replicas(): readonly Replica[];
  /** Policy-specific figures for the summary (preemptions are counted by the engine). */
  stats(endNs: number): Record<string, number | string>;
}

/** What a policy's options are checked against before any run. */
export interface PolicyNode {
  gpus: number;
  /** Tensor-parallel width of a replica (--tp). */
  tp: number;
  model: ModelSpec;
}

export interface PolicyKind<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  /** Options the policy takes (from CLI flags or the experiment YAML), with defaults. */
  options: S;
  /**
   * Throws what `create` would refuse in these options on this node, so that a bad config fails
   * when it is resolved (before a study's first run, named by flag) rather than mid-run.
   */
  check?(options: z.infer<S>, node: PolicyNode): void;
  create(ctx: PolicyContext, options: z.infer<S>): ServingPolicy;
}

const kinds = new Registry<PolicyKind>('serving policy');

export function registerPolicy<S extends z.ZodType>(kind: PolicyKind<S>): void {
  kinds.register(kind.name, kind as unknown as PolicyKind);
}

export function policyKind(name: string): PolicyKind | undefined {
  return kinds.get(name);
}

export function policyNames(): string[] {
  return kinds.names();
}
