import { SilicaError } from '../core/errors.js';
import type { Dtype, HardwareConfig } from '../hw/config/schema.js';
import { cuRange, type CuSet } from '../hw/gpu/cu-mask.js';
import { getModel } from '../sw/models/index.js';
import type { KernelCost } from '../kernels/types.js';
import { costModelFor, type IterationCostModel, type LaneStep } from '../sw/serving/cost-model.js';
import { simulateCorun } from '../sw/serving/corun.js';
import { aloneMhz, corunWindows, pairSpeedup, type CorunSide } from '../hw/corun.js';
import { checkCorunLaunches } from './corun.js';
import { flag, registerRunner, requireHw, wholeNum } from './runners.js';

/**
 * The serving study's own cost paths against measured serving iterations
 * (validation/measured/serving_steps.py): `serve-step` is one iteration as the serving engine
 * costs it (IterationCostModel, the memoised path every simulated request goes through), on the
 * whole GPU or its first `cus` CUs; `serve-corun` is the engine's co-run simulation of a prefill
 * on `cus_prefill` CUs beside a decode batch on the next `cus_decode` (simulateCorun over the
 * layer programs the engine builds), as rapid's CU-masked lanes run them, or on the same CUs
 * (`shared: true`, unmasked); with `reps_prefill` and `reps_decode` it runs whole steps in windows,
 * as the measurement does.
 */
function costsFor(hw: HardwareConfig, p: Record<string, unknown>): IterationCostModel {
  const dtype = (p.dtype ?? 'bf16') as Dtype;
  return costModelFor(hw, getModel(String(p.model ?? 'llama3-8b')), { tp: 1, dtype, kvDtype: dtype });
}

function cusOf(costs: IterationCostModel, p: Record<string, unknown>, key: string, from = 0, required = false): CuSet {
  if (p[key] === undefined && !required) return costs.allCus;
  const n = wholeNum(p, key, 0);
  if (n < 1 || from + n > costs.layout.cus) throw new SilicaError(`validation params.${key}: expected 1-${costs.layout.cus - from} CUs, got ${n}`);
  return cuRange(costs.layout, from, n);
}

registerRunner('serve-step', (hw, p) => {
  const costs = costsFor(requireHw(hw, 'serve-step'), p);
  const promptTokens = wholeNum(p, 'prompt_tokens', 0, { fallback: 0 });
  const decodes = wholeNum(p, 'decodes', 0, { fallback: 0 });
  const context = wholeNum(p, 'context', 0, { fallback: 0 });
  if (promptTokens + decodes === 0) throw new SilicaError('validation params: a serving step needs prompt_tokens or decodes');
  const cus = cusOf(costs, p, 'cus');
  const it = costs.iteration(promptTokens ? [{ tokens: promptTokens, context: 0 }] : [], decodes, decodes * context, cus);
  const linearNs = costs.linear(promptTokens, decodes, cus).ns;
  const out: Record<string, number> = { step_ms: it.ns / 1e6, attention_ms: (it.ns - linearNs) / 1e6, linear_ms: linearNs / 1e6 };
  // Where the part models its power cap, the step's median clock (NVML's in serving_steps.py): one
  // layer's kernels back to back on the step's CUs. Prefill-only and decode-only steps.
  if (costs.hw.compute.power && (promptTokens === 0 || decodes === 0)) {
    const steps = promptTokens ? costs.layerProgram('prefill', promptTokens, 0, cus) : costs.layerProgram('decode', decodes, context, cus);
    out.clock_mhz = aloneMhz(costs.hw, { kernels: laneKernels(steps), set: cus, reps: 1 });
  }
  return out;
});

registerRunner('serve-corun', (hw, p): Record<string, number> => {
  const cfg = requireHw(hw, 'serve-corun');
  const costs = costsFor(cfg, p);
  // Both lanes' CU counts are required: the decode lane takes the CUs after the prefill lane's.
  const shared = flag(p, 'shared');
  const prefillCus = cusOf(costs, p, 'cus_prefill', 0, true);
  // shared: both lanes on the prefill lane's CUs (no partition: unmasked streams)
  if (shared && p.cus_decode !== undefined) throw new SilicaError('validation params.cus_decode: not with shared: true (both lanes run on the cus_prefill CUs)');
  const decodeCus = shared ? prefillCus : cusOf(costs, p, 'cus_decode', prefillCus.count, true);
  // A co-run needs work on both lanes.
  const prefill = costs.layerProgram('prefill', wholeNum(p, 'prompt_tokens', 1, { unit: 'tokens' }), 0, prefillCus);
  const decode = costs.layerProgram('decode', wholeNum(p, 'decodes', 1, { unit: 'requests' }), wholeNum(p, 'context', 0), decodeCus);
  if (p.reps_prefill !== undefined || p.reps_decode !== undefined) {
    // Window mode, as serving_steps.py's co-run measures it: reps whole steps a lane, both queued at
    // once, each lane's window its first launch to its last completion (the engine's own co-run
    // below measures per-layer rates while both lanes are busy instead).
    const layers = costs.model.layers;
    const side = (steps: LaneStep[], set: CuSet, key: string): CorunSide =>
      checkCorunLaunches({ kernels: laneKernels(steps), set, reps: layers * wholeNum(p, key, 1, { unit: 'steps' }) }, key);
    const w = corunWindows(cfg, side(prefill, prefillCus, 'reps_prefill'), side(decode, decodeCus, 'reps_decode'));
    const out: Record<string, number> = { prefill_slowdown: w.aTogetherNs / w.aAloneNs, decode_slowdown: w.bTogetherNs / w.bAloneNs, pair_speedup: pairSpeedup(w) };
    // The clocks, where the part models its power cap (compute.power): NVML's medians in serving_steps.py.
    if (cfg.compute.power) Object.assign(out, { clock_mhz_together: w.togetherMhz, clock_mhz_prefill_alone: w.aAloneMhz, clock_mhz_decode_alone: w.bAloneMhz });
    return out;
  }
  const r = simulateCorun(cfg, { steps: prefill, cus: prefillCus }, { steps: decode, cus: decodeCus });
  return { prefill_slowdown: r.prefillSlowdown, decode_slowdown: r.decodeSlowdown };
});

/** A lane's kernels; the validation co-runs are single-GPU (tp 1), so a lane has no collectives. */
function laneKernels(steps: readonly LaneStep[]): KernelCost[] {
  return steps.map((s) => {
    if (s.kind !== 'kernel') throw new SilicaError('validation serve-corun: window mode needs a lane of kernels only (tp 1)');
    return s.cost;
  });
}
