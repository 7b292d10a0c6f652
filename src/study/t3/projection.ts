import type { HardwareConfig } from '../../hw/config/schema.js';
import { buildPrefillTrace, buildTrainingTrace, getModel } from '../../sw/index.js';
import { replayTrace, type ReplayResult } from '../../trace/replay.js';
import type { Sublayer } from './sublayers.js';

/**
 * End-to-end projection (mission.md §2: up to 12% in training, 15% in prompt-phase inference,
 * secondary reading): Amdahl over the sub-layers T3 applies to.
 *
 * The baseline iteration is silica's own: the model's training (or prefill) trace at the same
 * tokens and TP, replayed on every GPU of the group (src/trace/replay.ts). From that replay we take
 * the time rank 0 spends in each eligible sub-layer — the row-parallel GEMM plus the all-reduce
 * behind it — and scale just that part by the sub-layer speedup a configuration reached in the
 * study (sequential time / its time: T3-MCA for the published figure, and each other design the
 * study runs beside it, from the same replay). Everything else (attention, norms, element-wise kernels,
 * weight gradients, the optimizer, the embedding's all-reduce) keeps its replayed time:
 *   iteration' = iteration - sum_s time_s (1 - 1 / speedup_s).
 * Training has all four sub-layers per layer (attn-out and FC-2 forward, FC-1 and QKV data
 * gradients backward); prompt-phase inference has the two forward ones.
 */
export type Phase = 'train' | 'prefill';

/** Trace node names of each sub-layer's GEMM and of the all-reduce that follows it (src/sw lowering). */
const TRACE_NAMES: Record<Sublayer, { gemm: RegExp; allReduce: RegExp }> = {
  'attn-out': { gemm: /^l\d+\.attn\.out$/, allReduce: /^l\d+\.attn\.tp_g$/ },
  fc2: { gemm: /^l\d+\.ffn\.fc2$/, allReduce: /^l\d+\.ffn\.tp_g$/ },
  fc1: { gemm: /^l\d+\.ffn\.fc1\.dgrad$/, allReduce: /^l\d+\.ffn\.tp_f\.bwd$/ },
  qkv: { gemm: /^l\d+\.attn\.qkv\.dgrad$/, allReduce: /^l\d+\.attn\.tp_f\.bwd$/ },
};

export const PHASE_SUBLAYERS: Record<Phase, readonly Sublayer[]> = { train: ['attn-out', 'fc2', 'fc1', 'qkv'], prefill: ['attn-out', 'fc2'] };

export interface ProjectionRow {
  [column: string]: string | number;
  model: string;
  phase: Phase;
  /** The T3 configuration whose sub-layer speedups scale the eligible time (t3-mca, t3, ...). */
  configuration: string;
  tp: number;
  batch: number;
  seq: number;
  iteration_ms: number;
  eligible_ms: number;
  eligible_share: number;
  projected_iteration_ms: number;
  speedup: number;
}

/** Time rank 0 spends in each sub-layer's GEMM + all-reduce over the whole iteration. */
export function sublayerTimeNs(replay: ReplayResult, s: Sublayer): number {
  const names = TRACE_NAMES[s];
  let ns = 0;
  for (const r of replay.records) {
    if (r.rank !== 0) continue;
    if (names.gemm.test(r.name) || names.allReduce.test(r.name)) ns += r.endNs - r.startNs;
  }
  return ns;
}

/**
 * One row per configuration: the iteration is replayed once, and each configuration's sub-layer
 * speedups scale its eligible time. A speedup below 1 (a design slower than sequential on some
 * sub-layer) lengthens the iteration, as it would.
 */
export function projectIteration(
  hw: HardwareConfig,
  o: { model: string; phase: Phase; tp: number; batch: number; seq: number },
  configurations: readonly string[],
  speedupOf: (s: Sublayer, configuration: string) => number,
): ProjectionRow[] {
  const model = getModel(o.model);
  const trace =
    o.phase === 'train'
      ? buildTrainingTrace(model, { batch: o.batch, seq: o.seq, precision: 'mixed', tp: o.tp })
      : buildPrefillTrace(model, { batch: o.batch, seq: o.seq, tp: o.tp });
  const replay = replayTrace(trace, hw, { gpus: o.tp });
  const eligibleNs = PHASE_SUBLAYERS[o.phase].map((s) => ({ s, ns: sublayerTimeNs(replay, s) }));
  const eligible = eligibleNs.reduce((sum, e) => sum + e.ns, 0);
  return configurations.map((configuration) => {
    let saved = 0;
    for (const { s, ns } of eligibleNs) saved += ns * (1 - 1 / speedupOf(s, configuration));
    const after = replay.totalNs - saved;
    return {
      model: o.model,
      phase: o.phase,
      configuration,
      tp: o.tp,
      batch: o.batch,
      seq: o.seq,
      iteration_ms: replay.totalNs / 1e6,
      eligible_ms: eligible / 1e6,
      eligible_share: eligible / replay.totalNs,
      projected_iteration_ms: after / 1e6,
      speedup: replay.totalNs / after,
    };
  });
}
