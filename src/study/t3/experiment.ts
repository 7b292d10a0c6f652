import { studyOutputs } from '../outputs.js';
import { z } from 'zod';
import { asField, SilicaError } from '../../core/errors.js';
import { toCsv } from '../../core/io.js';
import { getModel } from '../../sw/models/index.js';
import { dtypeSchema, type HardwareConfig } from '../../hw/config/schema.js';
import { rethrowTaskFailure, runTasks } from '../../sweep/pool.js';
import { pointRunner, type PointTask } from '../../sweep/point-task.js';
import { checkedHardware, hardwareOverridesSchema, hardwareWithOverrides } from '../../hw/config/overrides.js';
import { experimentLanes, registerExperiment, type ExperimentContext, type ExperimentResult } from '../registry.js';
import { checkTpGroup, CONFIGURATIONS, cuSplitCusProblem, runSublayer, type Configuration } from './configs.js';
import { dataMovementFigure, dataMovementRows, projectionFigure, sensitivityFigure, speedupFigure, timelineBins, timelineFigure } from './figures.js';
import { projectIteration, type Phase } from './projection.js';
import { PUBLISHED_T3 } from './published.js';
import { geomean, headline, resultRows, type Row } from './rows.js';
import { sublayerGemm, sublayerSplitProblem, SUBLAYERS, type Sublayer } from './sublayers.js';

/**
 * `kind: t3` — the T3 study (issue 5, mission.md §2): every hardware x model x TP x sub-layer x
 * configuration simulated on every GPU of the TP group; results.csv (one row each), the headline
 * figures against the published ones in the summary, SVG figures, an end-to-end projection and
 * sensitivity sweeps. Cases run on a worker pool (`jobs`); rows are ordered by case, not by
 * completion, so outputs do not depend on the number of workers.
 */
const count = z.number().int().positive();
const configurationEnum = z.enum(CONFIGURATIONS);
const sublayerEnum = z.enum(SUBLAYERS);
const modelCases = z.array(z.object({ model: z.string().min(1), tp: z.array(count).min(1) }).strict()).min(1);

const hardwareEntry = z
  .object({
    /** Hardware preset name or YAML path (relative to the experiment file). */
    hw: z.string().min(1),
    /** Name in the tables (default: the preset's). */
    label: z.string().min(1).optional(),
    /** Partial hardware tree overlaid on the preset, e.g. {t3: {tracker_entries: 1024}}. */
    hw_overrides: hardwareOverridesSchema,
    models: modelCases,
  })
  .strict();

export const t3ExperimentSchema = z
  .object({
    kind: z.literal('t3'),
    description: z.string().optional(),
    /** Tokens per micro-batch (the GEMMs' M): sequence x batch. */
    tokens: count.default(8192),
    dtype: dtypeSchema.default('fp16'),
    hardware: z.array(hardwareEntry).min(1),
    sublayers: z.array(sublayerEnum).min(1).default([...SUBLAYERS]),
    configurations: z.array(configurationEnum).min(1).default([...CONFIGURATIONS]),
    /** `cu-split`: CUs the collective holds and pieces the GEMM is cut into. */
    cu_split: z.object({ cus: count.default(16), pieces: count.default(4) }).strict().default({ cus: 16, pieces: 4 }),
    /** Staggered workgroup order for T3 (false: every GPU in the default order). */
    staggered: z.boolean().default(true),
    /** DRAM traffic timeline of one sub-layer (GPU 0). */
    timeline: z
      .object({
        hw: z.string().min(1),
        model: z.string().min(1),
        tp: count,
        sublayer: sublayerEnum,
        configurations: z.array(configurationEnum).min(1).default(['sequential', 't3', 't3-mca']),
        bins: count.default(200),
      })
      .strict()
      .optional(),
    /**
     * End-to-end iteration speedup with a configuration on every eligible sub-layer (projection.ts):
     * each of `configurations` (default: the study's own, less `sequential`).
     */
    projection: z
      .object({
        hw: z.string().min(1),
        tp: count.default(8),
        models: z.array(z.string().min(1)).min(1),
        phases: z.array(z.enum(['train', 'prefill'])).min(1).default(['train', 'prefill']),
        configurations: z
          .array(configurationEnum.refine((c) => c !== 'sequential', { message: 'sequential is the baseline every projection is measured against, not a configuration to project' }))
          .min(1)
          .optional(),
        batch: count.default(8),
        seq: count.default(1024),
      })
      .strict()
      .optional(),
    /** One-factor sweeps beyond the paper: each variant overlays the hardware. */
    sensitivity: z
      .array(
        z
          .object({
            name: z.string().min(1),
            description: z.string().optional(),
            hw: z.string().min(1),
            variants: z.array(z.object({ label: z.union([z.string(), z.number()]), hw_overrides: hardwareOverridesSchema }).strict()).min(1),
            models: modelCases,
            sublayers: z.array(sublayerEnum).min(1).optional(),
            configurations: z.array(configurationEnum).min(1).default(['sequential', 't3', 't3-mca', 'ideal-overlap']),
          })
          .strict(),
      )
      .default([]),
    figures: z.boolean().default(true),
    /** Parallel lanes (this thread + workers); default: the cores available, at most 4 (1 in a sweep). */
    jobs: count.optional(),
  })
  .strict();

export type T3Experiment = z.infer<typeof t3ExperimentSchema>;
type HardwareEntry = z.infer<typeof hardwareEntry>;

interface Case {
  entry: HardwareEntry;
  model: string;
  tp: number;
  sublayer: Sublayer;
  configurations: Configuration[];
  /** Sensitivity rows carry their study and variant. */
  tag?: Row;
}

const labelOf = (e: HardwareEntry) => e.label ?? e.hw;

function withSequential(configs: readonly Configuration[]): Configuration[] {
  return configs.includes('sequential') ? [...configs] : ['sequential', ...configs];
}

function expandCases(config: T3Experiment): { main: Case[]; sensitivity: Case[] } {
  const main: Case[] = [];
  for (const entry of config.hardware) {
    for (const mc of entry.models) for (const tp of mc.tp) for (const sublayer of config.sublayers) main.push({ entry, model: mc.model, tp, sublayer, configurations: withSequential(config.configurations) });
  }
  const sensitivity: Case[] = [];
  for (const study of config.sensitivity) {
    for (const v of study.variants) {
      const entry: HardwareEntry = { hw: study.hw, label: study.hw, hw_overrides: v.hw_overrides, models: study.models };
      for (const mc of study.models) {
        for (const tp of mc.tp) {
          for (const sublayer of study.sublayers ?? config.sublayers) {
            sensitivity.push({ entry, model: mc.model, tp, sublayer, configurations: withSequential(study.configurations), tag: { study: study.name, variant: String(v.label) } });
          }
        }
      }
    }
  }
  return { main, sensitivity };
}

/** Runs one case in this thread. */
function runCase(config: T3Experiment, c: Case, hwCache: Map<HardwareEntry, HardwareConfig>, baseDir?: string): Row[] {
  let hw = hwCache.get(c.entry);
  if (!hw) hwCache.set(c.entry, (hw = hardwareWithOverrides(c.entry.hw, c.entry.hw_overrides, baseDir)));
  const shape = sublayerGemm(c.model, c.tp, c.sublayer, config.tokens, config.dtype);
  const results = runSublayer(hw, shape, c.tp, c.configurations, { staggered: config.staggered, cuSplitCus: config.cu_split.cus, cuSplitPieces: config.cu_split.pieces });
  const seq = results[c.configurations.indexOf('sequential')]!;
  return resultRows({ hw: labelOf(c.entry), model: c.model, tp: c.tp, sublayer: c.sublayer, tokens: config.tokens }, shape, results, seq).map((r) => ({ ...(c.tag ?? {}), ...r }));
}

/** The sub-experiment a worker runs for one case: the same kind, one hardware, model, TP and sub-layer. */
function caseConfig(config: T3Experiment, c: Case): T3Experiment {
  return {
    kind: 't3',
    tokens: config.tokens,
    dtype: config.dtype,
    hardware: [{ ...c.entry, label: labelOf(c.entry), models: [{ model: c.model, tp: [c.tp] }] }],
    sublayers: [c.sublayer],
    configurations: c.configurations,
    cu_split: config.cu_split,
    staggered: config.staggered,
    sensitivity: [],
    figures: false,
    jobs: 1,
  };
}

/**
 * Runs the cases, each distinct (hardware, model, TP, sub-layer) once: a sensitivity variant that
 * leaves the hardware as it is (the baseline point of a sweep) reuses the main study's runs.
 */
async function runCases(config: T3Experiment, cases: Case[], ctx: ExperimentContext, onCase: (c: Case) => void): Promise<Row[][]> {
  const hwCache = new Map<HardwareEntry, HardwareConfig>();
  const hwKeys = new Map<HardwareEntry, string>();
  const hwKey = (e: HardwareEntry) => {
    let k = hwKeys.get(e);
    if (k === undefined) {
      const hw = hardwareWithOverrides(e.hw, e.hw_overrides, ctx.baseDir);
      hwCache.set(e, hw);
      hwKeys.set(e, (k = JSON.stringify(hw)));
    }
    return k;
  };
  const units = new Map<string, { c: Case; configs: Set<Configuration>; requesters: number[] }>();
  cases.forEach((c, i) => {
    const key = `${hwKey(c.entry)}|${c.model}|${c.tp}|${c.sublayer}`;
    let u = units.get(key);
    if (!u) units.set(key, (u = { c, configs: new Set(), requesters: [] }));
    for (const x of c.configurations) u.configs.add(x);
    u.requesters.push(i);
  });
  const unitList = [...units.values()].map((u) => ({ ...u.c, configurations: CONFIGURATIONS.filter((x) => u.configs.has(x)), tag: undefined, requesters: u.requesters }));
  const unitRows: Row[][] = new Array(unitList.length);
  const jobs = experimentLanes(config.jobs, ctx, unitList.length);
  const finish = (i: number, rows: Row[]) => {
    unitRows[i] = rows;
    for (const q of unitList[i]!.requesters) onCase(cases[q]!);
  };
  if (jobs <= 1) {
    unitList.forEach((u, i) => finish(i, runCase(config, u, hwCache, ctx.baseDir)));
  } else {
    const items = unitList.map((u, i) => ({
      i,
      task: { raw: caseConfig(config, u), file: 't3 experiment', baseDir: ctx.baseDir ?? process.cwd(), label: `case ${u.model} tp${u.tp} ${u.sublayer} on ${labelOf(u.entry)}` } satisfies PointTask,
    }));
    await runTasks(pointRunner, items, jobs, (item, outcome) => {
      if (!outcome.ok) rethrowTaskFailure(outcome);
      finish(item.i, outcome.rows);
    });
  }
  const out: Row[][] = new Array(cases.length);
  unitList.forEach((u, i) => {
    for (const q of u.requesters) {
      const c = cases[q]!;
      out[q] = unitRows[i]!.filter((r) => c.configurations.includes(r.configuration as Configuration)).map((r) => ({ ...(c.tag ?? {}), ...r, hw: labelOf(c.entry) }));
    }
  });
  return out;
}

export async function runT3Experiment(config: T3Experiment, ctx: ExperimentContext = {}): Promise<ExperimentResult> {
  const { main, sensitivity } = expandCases(config);
  // Progress by expected work, not by count: a case simulates each of its configurations on every
  // GPU of its TP group, and a TP-32 case takes about three times a TP-8 one (a count made the
  // ETA of the shipped study a third of the time left). The projection reuses the rows: cheap.
  const cases = [...main, ...sensitivity];
  const workOf = (c: { tp: number; configurations: readonly unknown[] }) => c.tp * c.configurations.length;
  const timelineWork = config.timeline ? workOf(config.timeline) : 0;
  const total = cases.reduce((sum, c) => sum + workOf(c), 0) + timelineWork + (config.projection ? config.projection.models.length * config.projection.phases.length : 0);
  let done = 0;
  const tick = (label: string, work = 1) => ctx.progress?.((done += work) / total, label);
  const grouped = await runCases(config, cases, ctx, (c) => tick('sub-layers', workOf(c)));
  const rows = grouped.slice(0, main.length).flat();
  const sensRows = grouped.slice(main.length).flat();
  const hwCache = new Map<string, HardwareConfig>();
  const hwOf = (name: string) => {
    let hw = hwCache.get(name);
    if (!hw) {
      const entry = config.hardware.find((e) => labelOf(e) === name);
      hwCache.set(name, (hw = hardwareWithOverrides(entry?.hw ?? name, entry?.hw_overrides ?? {}, ctx.baseDir)));
    }
    return hw;
  };

  const summary: Record<string, unknown> = { published: PUBLISHED_T3, tokens: config.tokens, dtype: config.dtype };
  const byHw: Record<string, unknown> = {};
  for (const label of new Set(rows.map((r) => r.hw as string))) byHw[label] = headline(rows.filter((r) => r.hw === label));
  summary.hardware = byHw;

  // Timeline of one sub-layer (GPU 0's DRAM channel traffic).
  let timeline: Row[] = [];
  if (config.timeline) {
    const t = config.timeline;
    const hw = hwOf(t.hw);
    const shape = sublayerGemm(t.model, t.tp, t.sublayer, config.tokens, config.dtype);
    const results = runSublayer(hw, shape, t.tp, t.configurations, { timeline: true, staggered: config.staggered, cuSplitCus: config.cu_split.cus, cuSplitPieces: config.cu_split.pieces });
    const endNs = Math.max(...results.map((r) => r.time_us * 1000));
    timeline = results.flatMap((r) => timelineBins(r.timeline ?? [], endNs, t.bins).map((b) => ({ configuration: r.configuration, ...b })));
    tick('timeline', timelineWork);
  }

  // End-to-end projection: sub-layer speedups from the rows (or run here when not in the study).
  let projection: Row[] = [];
  if (config.projection) {
    const pr = config.projection;
    const hw = hwOf(pr.hw);
    const tokens = pr.batch * pr.seq;
    const projected = pr.configurations ?? config.configurations.filter((c) => c !== 'sequential');
    for (const model of pr.models) {
      const cache = new Map<Sublayer, Map<string, number>>();
      const speedupOf = (s: Sublayer, configuration: string) => {
        let bySublayer = cache.get(s);
        if (!bySublayer) {
          bySublayer = new Map();
          const studied = tokens === config.tokens ? rows.filter((r) => r.hw === pr.hw && r.model === model && r.tp === pr.tp && r.sublayer === s) : [];
          for (const r of studied) bySublayer.set(r.configuration as string, r.speedup_vs_sequential as number);
          const missing = projected.filter((c) => !bySublayer!.has(c));
          if (missing.length) {
            const configurations = withSequential(missing);
            const results = runSublayer(hw, sublayerGemm(model, pr.tp, s, tokens, config.dtype), pr.tp, configurations, { staggered: config.staggered, cuSplitCus: config.cu_split.cus, cuSplitPieces: config.cu_split.pieces });
            const seq = results[0]!;
            results.forEach((r, i) => bySublayer!.set(configurations[i]!, seq.time_us / r.time_us));
          }
          cache.set(s, bySublayer);
        }
        return bySublayer.get(configuration)!;
      };
      for (const phase of pr.phases as Phase[]) {
        projection.push(...projectIteration(hw, { model, phase, tp: pr.tp, batch: pr.batch, seq: pr.seq }, projected, speedupOf));
        tick(`projection ${model} ${phase}`);
      }
    }
    summary.projection = projection.map((p) => ({ model: p.model, phase: p.phase, configuration: p.configuration, eligible_share: p.eligible_share, speedup: p.speedup }));
  }

  // Sensitivity: geomean speedup per study, variant and configuration.
  const sensSummary: Row[] = [];
  for (const study of config.sensitivity) {
    for (const v of study.variants) {
      const sel = sensRows.filter((r) => r.study === study.name && r.variant === String(v.label));
      for (const c of study.configurations) {
        if (c === 'sequential') continue;
        const xs = sel.filter((r) => r.configuration === c).map((r) => r.speedup_vs_sequential as number);
        sensSummary.push({ study: study.name, variant: String(v.label), configuration: c, geomean_speedup: geomean(xs), cases: xs.length });
      }
    }
  }
  if (sensSummary.length) summary.sensitivity = sensSummary;

  const files: string[] = [];
  if (ctx.outDir) {
    const { write, svg } = studyOutputs(ctx.outDir, files);
    write('data_movement.csv', toCsv(dataMovementRows(rows)));
    if (timeline.length) write('dram_timeline.csv', toCsv(timeline));
    if (projection.length) write('projection.csv', toCsv(projection));
    if (sensRows.length) {
      write('sensitivity.csv', toCsv(sensRows));
      write('sensitivity_summary.csv', toCsv(sensSummary));
    }
    if (config.figures) {
      await svg('speedup.svg', speedupFigure(rows));
      await svg('data_movement.svg', dataMovementFigure(rows));
      if (timeline.length) {
        const t = config.timeline!;
        await svg('dram_timeline.svg', timelineFigure(timeline, `DRAM traffic, ${t.model} ${t.sublayer} TP ${t.tp} on ${t.hw}`));
      }
      if (sensSummary.length) await svg('sensitivity.svg', sensitivityFigure(sensSummary));
      if (projection.length) await svg('projection.svg', projectionFigure(projection));
    }
  }
  return { rows, summary, files };
}

/**
 * Each part and its overrides, main and sensitivity alike, with the cases run on it: a sweep refuses
 * a bad point before running any, and messages name the field as written in the file (the run's
 * own checks name the `silica t3` flags).
 */
function checkT3(config: T3Experiment, baseDir: string): void {
  const parts = [
    ...config.hardware.map((e, i) => ({ at: `hardware.${i}`, modelsAt: `hardware.${i}`, hw: checkedHardware(e.hw, e.hw_overrides, baseDir, `hardware.${i}.hw_overrides`, `hardware.${i}.hw`), models: e.models, sublayers: config.sublayers })),
    ...config.sensitivity.flatMap((s, i) =>
      s.variants.map((v, j) => ({
        at: `sensitivity.${i}.variants.${j}`,
        modelsAt: `sensitivity.${i}`,
        hw: checkedHardware(s.hw, v.hw_overrides, baseDir, `sensitivity.${i}.variants.${j}.hw_overrides`, `sensitivity.${i}.hw`),
        models: s.models,
        sublayers: s.sublayers ?? config.sublayers,
      })),
    ),
  ];
  for (const { at, modelsAt, hw, models, sublayers } of parts) {
    // cu_split applies wherever cu-split runs (here, a sensitivity study, the timeline or the
    // projection), so it is checked on every part whatever `configurations` lists.
    const cusProblem = cuSplitCusProblem(hw, config.cu_split.cus);
    if (cusProblem) throw new SilicaError(`cu_split.cus: ${cusProblem} (${at} is ${hw.name}, ${hw.compute.cus} CUs)`);
    models.forEach((mc, j) => {
      const model = asField(() => getModel(mc.model), `${modelsAt}.models.${j}.model`);
      mc.tp.forEach((tp, k) => {
        const tpAt = `${modelsAt}.models.${j}.tp.${k}`;
        asField(() => checkTpGroup(hw, tp), tpAt);
        for (const s of sublayers) {
          const problem = sublayerSplitProblem(model, tp, s);
          if (problem) throw new SilicaError(`${tpAt}: ${problem}`);
        }
      });
    });
  }
  // As `collective cu-overlap --chunks`: a piece is a block of the GEMM's rows (its tokens).
  const rows: Array<[string, number]> = [['tokens', config.tokens]];
  if (config.projection) rows.push(['projection.batch x projection.seq', config.projection.batch * config.projection.seq]);
  for (const [field, m] of rows) {
    if (config.cu_split.pieces > m) throw new SilicaError(`cu_split.pieces: expected at most ${field} (${m}) row blocks, got ${config.cu_split.pieces}`);
  }
}

registerExperiment({
  name: 't3',
  description: 'T3: fused GEMM + reduce-scatter (track & trigger, NMC, MCA) vs sequential, ideal and CU-split, per sub-layer',
  schema: t3ExperimentSchema,
  check: (config, ctx) => checkT3(config, ctx.baseDir),
  run: (config, ctx) => runT3Experiment(config, ctx),
});
