import { HardwareCoster } from '../study/bert/coster.js';
import { simulateIteration } from '../study/bert/iteration.js';
import { bertPointSchema } from '../study/bert/point.js';
import { SilicaError } from '../core/errors.js';
import { parseBytes } from '../core/units.js';
import { configsDir } from '../core/paths.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOverlays, readYamlFile, toYaml, validate } from '../core/yaml-config.js';
import { loadHardware } from '../hw/config/load.js';
import { experimentKind } from '../study/index.js';
import type { Dtype } from '../hw/config/schema.js';
import { simulateCollective, type CollectiveAlgo, type CollectiveKind } from '../hw/collectives/index.js';
import { getModel } from '../sw/models/index.js';
import { buildDecodeTrace } from '../sw/index.js';
import { replayTrace } from '../trace/replay.js';
import { runT3Experiment, t3ExperimentSchema } from '../study/t3/index.js';
import { num, registerRunner } from './runners.js';

/**
 * Runners that reproduce study-level figures through the studies' own APIs (the same code paths
 * `silica bert`, `silica t3`, `silica serve` and `silica collective` use).
 */
registerRunner('bert', (_hw, params, ctx) => {
  if (!ctx.hwRef) throw new SilicaError('validation runner bert: expected a hw for this point');
  const point = bertPointSchema.parse({ ...params, hw: ctx.hwRef });
  const r = simulateIteration(point, new HardwareCoster(ctx.hwRef, ctx.overlays));
  const byCategory = (cat: string) => r.cells.filter((c) => c.category === cat).reduce((s, c) => s + c.timeNs, 0) / 1000;
  return {
    iteration_ms: r.iterationNs / 1e6,
    samples_per_s: r.samplesPerSecond,
    gemm_ms: (byCategory('gemm') + byCategory('attention')) / 1000,
    optimizer_ms: byCategory('optimizer') / 1000,
  };
});

registerRunner('collective', (hw, params) => {
  if (!hw) throw new SilicaError('validation runner collective: expected a hw for this point');
  const gpus = num(params, 'gpus', 8);
  const r = simulateCollective(hw, gpus, {
    kind: (params.kind ?? 'all-reduce') as CollectiveKind,
    bytes: parseBytes((params.bytes as string | number) ?? '1GiB'),
    algo: params.algo as CollectiveAlgo | undefined,
  });
  return { bus_bw_gbps: r.busBwGbps, alg_bw_gbps: r.algBwGbps, time_us: r.timeNs / 1000 };
});

/** One decode step of a zoo model (weights + KV read), replayed on the TP group. */
registerRunner('decode', (hw, params) => {
  if (!hw) throw new SilicaError('validation runner decode: expected a hw for this point');
  const model = getModel(String(params.model ?? 'llama2-7b'));
  const tp = num(params, 'tp', 1);
  const trace = buildDecodeTrace(model, { batch: num(params, 'batch', 1), context: num(params, 'context', 512), tp, dtype: (params.dtype ?? 'bf16') as Dtype });
  const r = replayTrace(trace, hw, { gpus: tp, recordTimeline: false });
  const msPerToken = r.totalNs / 1e6;
  return { ms_per_token: msPerToken, tokens_per_s: 1000 / msPerToken };
});

/**
 * The T3 study's headline figures over the published set of sub-layers (the same experiment kind
 * `silica run configs/experiments/t3.yaml` runs), computed once per hardware and reused by every point.
 */
const t3Headlines = new Map<string, Promise<Record<string, number>>>();
registerRunner('t3-study', (_hw, params, ctx) => {
  const hwRef = ctx.hwRef ?? 't3-baseline';
  const key = JSON.stringify([hwRef, ctx.overlays]);
  if (!t3Headlines.has(key)) t3Headlines.set(key, t3Headline(hwRef, ctx.overlays, params));
  return t3Headlines.get(key)!;
});

async function t3Headline(hwRef: string, overlays: string[], params: Record<string, unknown>): Promise<Record<string, number>> {
  const overrides = overlays.length ? applyOverlays({}, overlays, '--set', true) : {};
  const config = t3ExperimentSchema.parse({
    kind: 't3',
    tokens: params.tokens ?? 8192,
    dtype: 'fp16',
    hardware: [
      {
        hw: hwRef,
        hw_overrides: overrides,
        models: [
          { model: 'mega-gpt2-8.3b', tp: [8, 16] },
          { model: 't-nlg-17b', tp: [8, 16] },
          { model: 'gpt3-175b', tp: [32] },
          { model: 'palm-540b', tp: [32] },
          { model: 'mt-nlg-530b', tp: [32] },
        ],
      },
    ],
    sublayers: ['attn-out', 'fc2', 'fc1', 'qkv'],
    configurations: ['sequential', 't3', 't3-mca', 'ideal-overlap'],
    // End to end: Mega-GPT-2's iteration at TP 8, 8 x 1024 tokens (the sub-layers' own tokens).
    projection: { hw: hwRef, tp: 8, models: ['mega-gpt2-8.3b'], phases: ['train', 'prefill'], configurations: ['t3-mca'], batch: 8, seq: 1024 },
  });
  const result = await runT3Experiment(config, {});
  const projected = (phase: string) => (result.summary!.projection as Array<{ phase: string; speedup: number }>).find((p) => p.phase === phase)!.speedup;
  const rows = result.rows;
  const geo = (c: string) => Math.exp(mean(rows.filter((r) => r.configuration === c).map((r) => Math.log(Number(r.speedup_vs_sequential))))) - 1;
  const geoDm = (c: string) => 1 - Math.exp(mean(rows.filter((r) => r.configuration === c).map((r) => Math.log(Number(r.data_movement_vs_sequential)))));
  const large = (c: string) =>
    Math.exp(mean(rows.filter((r) => r.configuration === c && /palm|mt-nlg/.test(String(r.model))).map((r) => Math.log(Number(r.speedup_vs_sequential))))) - 1;
  return {
    t3_mca_geomean_speedup_pct: geo('t3-mca') * 100,
    t3_geomean_speedup_pct: geo('t3') * 100,
    ideal_overlap_geomean_speedup_pct: geo('ideal-overlap') * 100,
    t3_mca_minus_t3_pct: (geo('t3-mca') - geo('t3')) * 100,
    data_movement_reduction_pct: geoDm('t3-mca') * 100,
    large_models_t3_mca_speedup_pct: large('t3-mca') * 100,
    end_to_end_training_t3_mca_speedup_pct: (projected('train') - 1) * 100,
    end_to_end_prefill_t3_mca_speedup_pct: (projected('prefill') - 1) * 100,
  };
}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/**
 * The serving study's headline ratios, from the shipped experiment (configs/experiments/rapid-serve.yaml,
 * figures off), run once per hardware and reused by every point.
 */
const serveHeadlines = new Map<string, Promise<Record<string, number>>>();
registerRunner('serve-study', (_hw, _params, ctx) => {
  const hwRef = ctx.hwRef ?? 'mi300x';
  const key = JSON.stringify([hwRef, ctx.overlays]);
  if (!serveHeadlines.has(key)) serveHeadlines.set(key, serveHeadline(hwRef, ctx.overlays));
  return serveHeadlines.get(key)!;
});

async function serveHeadline(hwRef: string, overlays: string[]): Promise<Record<string, number>> {
  const kind = experimentKind('serve');
  if (!kind) throw new SilicaError('validation runner serve-study: the serve experiment kind is not registered');
  // Overlays reach the study as a resolved hardware file (the experiment takes a preset or a path),
  // in a folder of its own that goes once the study has run.
  const tmp = overlays.length ? mkdtempSync(join(tmpdir(), 'silica-validate-')) : undefined;
  let result;
  try {
    const hw = tmp ? join(tmp, 'hw.yaml') : hwRef;
    if (tmp) writeFileSync(hw, toYaml(loadHardware(hwRef, overlays)));
    const raw = applyOverlays(readYamlFile(configsDir('experiments', 'rapid-serve.yaml')), [`hw=${hw}`, 'figures=false'], 'configs/experiments/rapid-serve.yaml', true) as Record<string, unknown>;
    const config = validate(kind.schema, raw, 'configs/experiments/rapid-serve.yaml');
    result = await kind.run(config, {});
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  const s = result.summary as Record<string, Record<string, number | boolean>>;
  const hybrid = s['rapid_vs_hybrid-512']!;
  const disagg = s['rapid_vs_disagg-4p4d']!;
  return {
    throughput_vs_hybrid_avg: Number(hybrid.throughput_ratio_avg),
    goodput_vs_hybrid_avg: Number(hybrid.goodput_ratio_avg),
    goodput_vs_disagg_avg: Number(disagg.goodput_ratio_avg),
    goodput_higher_than_hybrid_everywhere: hybrid.goodput_higher_everywhere ? 1 : 0,
    disagg_p95_itl_lower_everywhere: disagg.baseline_itl_p95_lower_everywhere ? 1 : 0,
  };
}
