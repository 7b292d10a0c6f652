import { studyOutputs } from '../outputs.js';
import { toCsv } from '../../core/io.js';
import { checkedHardware, overridesAsOverlays } from '../../hw/config/overrides.js';
import { registerExperiment } from '../registry.js';
import { breakdownFigure, bucketFigure, communicationFigure, fusionFigure, memoryBoundFigure, optimizerFigure, rooflineFigure } from './figures.js';
import { categoryShare, gemmIntensity, largestCategory, memoryBoundShare } from './findings.js';
import type { IterationResult } from './iteration.js';
import { bertReport } from './report.js';
import { bertExperimentSchema, experimentHardware, resolvePoint, studyPoints, StudyRunner, type BertExperiment } from './study.js';
import { breakdownRows, gemmRows, resultRow, rooflineRows } from './tables.js';

/**
 * `kind: bert` — the BERT training characterisation (issue 6, ../shared/mission.md §3).
 * results.csv: one row per configuration; breakdown.csv: configuration x category x pass;
 * gemms.csv: every distinct GEMM; report.md; SVG figures.
 */
type Row = Record<string, string | number | boolean>;

export async function runBertExperiment(exp: BertExperiment, ctx: { outDir?: string; progress?: (f: number, label: string) => void; baseDir?: string }) {
  const runner = new StudyRunner(ctx.baseDir, exp.hw_overrides);
  const studies = exp.studies.map((s, i) => ({ study: s, points: studyPoints(exp, i) }));
  const total = studies.reduce((s, x) => s + x.points.length, 0) + 1;
  let done = 0;
  const rows: Row[] = [];
  const breakdown: Row[] = [];
  const byStudy = new Map<string, IterationResult[]>();
  const all: IterationResult[] = [];
  for (const { study, points } of studies) {
    const results: IterationResult[] = [];
    for (const p of points) {
      const r = runner.run(p);
      results.push(r);
      if (!all.includes(r)) all.push(r);
      const { hw } = runner.coster(p.hw);
      rows.push(resultRow(study.name, r, exp.steps, { gpusPerNode: hw.interconnect.gpus_per_node, hbmBytes: hw.memory.hbm.capacity_bytes }));
      breakdown.push(...breakdownRows(study.name, r));
      ctx.progress?.(++done / total, `${study.name}: ${p.model} seq ${p.seq} b${p.batch} ${p.precision} mb${p.micro_batches} dp${p.dp} ${p.hw}`);
    }
    byStudy.set(study.name, results);
  }
  const baseline = runner.run(exp.baseline);
  const roofPoint = resolvePoint(exp.baseline, exp.roofline, 'roofline');
  const roof = runner.run(roofPoint);
  ctx.progress?.(1, 'report');

  const gemms = new Map<string, Row>();
  for (const r of [baseline, ...all]) for (const g of gemmRows(r)) gemms.set(JSON.stringify(g), g);

  const files: string[] = [];
  if (ctx.outDir) {
    const { write, svg } = studyOutputs(ctx.outDir, files);
    write('breakdown.csv', toCsv(breakdown));
    write('gemms.csv', toCsv([...gemms.values()]));
    const studyOf = (axis: string) => {
      const s = exp.studies.find((x) => axis in x.vary);
      return s ? byStudy.get(s.name)! : all;
    };
    const hbmBytesOf = (hw: string) => runner.coster(hw).hw.memory.hbm.capacity_bytes;
    write('report.md', bertReport(all.includes(baseline) ? all : [baseline, ...all], baseline, exp.steps, studyOf, hbmBytesOf, overridesAsOverlays(exp.hw_overrides)));
    if (exp.figures) {
      const varying = (axis: string) => exp.studies.find((s) => axis in s.vary);
      const rowsOf = (axis: string) => rows.filter((r) => r.study === varying(axis)?.name);
      const precisionStudy = varying('precision');
      if (precisionStudy) await svg('breakdown.svg', breakdownFigure(breakdown.filter((r) => r.study === precisionStudy.name)));
      if (varying('batch')) await svg('memory_bound_vs_batch.svg', memoryBoundFigure(rowsOf('batch')));
      if (varying('micro_batches')) await svg('optimizer_vs_micro_batches.svg', optimizerFigure(rowsOf('micro_batches')));
      if (varying('dp')) await svg('communication_vs_dp.svg', communicationFigure(rowsOf('dp')));
      if (varying('bucket_mb')) await svg('communication_vs_bucket.svg', bucketFigure(rowsOf('bucket_mb')));
      const fusionStudy = varying('fuse_bias_act') ?? varying('flash_attention');
      if (fusionStudy) await svg('fusion.svg', fusionFigure(breakdown.filter((r) => r.study === fusionStudy.name)));
      const dtype = roof.trace.meta.dtype as 'fp32' | 'fp16' | 'bf16';
      await svg('roofline.svg', rooflineFigure(rooflineRows(roof), runner.coster(roofPoint.hw).hw, dtype, `Roofline: every kernel of ${roofPoint.model}, seq ${roofPoint.seq}, batch ${roofPoint.batch}, ${roofPoint.precision} on ${roofPoint.hw}`));
    }
  }

  const fp32 = all.filter((r) => r.point.precision === 'fp32');
  const ai = gemmIntensity(baseline);
  const summary = {
    configurations: all.length,
    baseline: {
      ...exp.baseline,
      iteration_us: baseline.iterationNs / 1e3,
      samples_per_s: baseline.samplesPerSecond,
      time_to_train_h: (exp.steps * baseline.iterationNs) / 3.6e12,
      memory_bound_share: memoryBoundShare(baseline),
      gemm_share: categoryShare(baseline, 'gemm'),
    },
    fp32_configs_where_gemm_is_largest: `${fp32.filter((r) => largestCategory(r).category === 'gemm').length}/${fp32.length}`,
    attention_gemm_intensity_flop_per_byte: ai.attention,
    projection_gemm_intensity_flop_per_byte: ai.projection,
    kernel_cache: runner.cacheStats(),
  };
  return { rows, summary, files };
}

/**
 * Every configuration is one the runtime can run (the baseline first, so that its own fault is
 * named there) and each hardware the configurations name exists and takes the overrides, without
 * simulating any: a sweep refuses a bad point before running any.
 */
function checkBertExperiment(exp: BertExperiment, baseDir: string): void {
  resolvePoint(exp.baseline, {}, 'baseline');
  exp.studies.forEach((_, i) => studyPoints(exp, i));
  resolvePoint(exp.baseline, exp.roofline, 'roofline');
  for (const { hw, at } of experimentHardware(exp)) checkedHardware(hw, exp.hw_overrides, baseDir, undefined, at);
}

registerExperiment({
  name: 'bert',
  description: 'BERT training characterisation: per-category and per-pass breakdown across model, sequence, batch, precision, optimizer, micro-batching, data parallelism, recomputation and hardware',
  schema: bertExperimentSchema,
  check: (config, ctx) => checkBertExperiment(config, ctx.baseDir),
  run: (config, ctx) => runBertExperiment(config, ctx),
});
