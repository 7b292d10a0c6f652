import { z } from 'zod';
import { asField, SilicaError } from '../../core/errors.js';
import { checkUniqueNames } from '../../core/repeats.js';
import { hardwareRef } from '../../hw/config/load.js';
import { hardwareOverridesSchema, overrideOverlays, type HardwareOverrides } from '../../hw/config/overrides.js';
import { HardwareCoster } from './coster.js';
import { simulateIteration, type IterationResult } from './iteration.js';
import { bertPointSchema, parallelismProblem, type BertPoint } from './point.js';
import { optimizerImplProblem, zeroStageProblem } from '../../sw/train/optimizer.js';
import { seqProblem } from '../../sw/train/build.js';
import { getModel } from '../../sw/models/index.js';

/**
 * The `bert` experiment: a baseline configuration and one-factor-at-a-time studies around it, the
 * way a characterisation paper plots them (each study varies one or two axes, everything else at
 * the baseline), instead of the full cross product of every axis.
 */
const axisValue = z.union([z.string(), z.number(), z.boolean()]);

export const bertStudySchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** Fields fixed for this study (over the baseline). */
    set: z.record(z.string(), axisValue).default({}),
    /** Axes varied together (cross product of the lists). */
    vary: z.record(z.string(), z.array(axisValue).min(1)),
  })
  .strict();

export const bertExperimentSchema = z
  .object({
    kind: z.literal('bert'),
    description: z.string().optional(),
    /** Optimizer steps for the time-to-train column (BERT: 1,000,000 steps, Devlin et al. 2019 §A.2). */
    steps: z.number().int().positive().default(1_000_000),
    baseline: bertPointSchema.default(bertPointSchema.parse({})),
    studies: z.array(bertStudySchema).min(1),
    /** Configuration (over the baseline) whose kernels the roofline figure plots. */
    roofline: z.record(z.string(), axisValue).default({}),
    /** Fields laid over every configuration's hardware, e.g. {compute: {cus: 152}} (as in every kind). */
    hw_overrides: hardwareOverridesSchema,
    figures: z.boolean().default(true),
  })
  .strict()
  // Rows, the report and the figures find a study by its name.
  .superRefine((exp, ctx) => void checkUniqueNames(ctx, 'studies', exp.studies.map((s) => s.name)));

export type BertExperiment = z.infer<typeof bertExperimentSchema>;
export type BertStudy = z.infer<typeof bertStudySchema>;

/**
 * Where a configuration's field is written in the file (`studies.0.vary.seq.1`, `baseline.tp`),
 * for messages; a string `where` is a prefix (`studies.0.vary` gives `studies.0.vary.seq`).
 */
export type FieldPath = (field: string) => string;

export function resolvePoint(base: BertPoint, over: Record<string, unknown>, where: string | FieldPath): BertPoint {
  const at = typeof where === 'string' ? (field: string) => `${where}.${field}` : where;
  checkFieldNames(Object.keys(over), at);
  const r = bertPointSchema.safeParse({ ...base, ...over });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SilicaError(`${at(issue.path.join('.'))}: ${issue.message}`);
  }
  const model = asField(() => getModel(r.data.model), at('model'));
  const seq = seqProblem(model, r.data.seq);
  if (seq) throw new SilicaError(`${at('seq')}: ${seq}`);
  const implProblem = optimizerImplProblem(r.data.optimizer, r.data.optimizer_impl);
  if (implProblem) throw new SilicaError(`${at('optimizer_impl')}: ${implProblem}`);
  const zeroProblem = zeroStageProblem(r.data.zero_stage, r.data.optimizer, r.data.optimizer_impl);
  if (zeroProblem) throw new SilicaError(`${at('zero_stage')}: ${zeroProblem}`);
  const parallel = parallelismProblem(r.data);
  if (parallel) throw new SilicaError(`${at(parallel.field)}: ${parallel.message}`);
  return r.data;
}

/** Each key a configuration field (a misspelt one would be silently ignored). */
function checkFieldNames(keys: readonly string[], at: FieldPath): void {
  for (const key of keys) {
    if (!(key in bertPointSchema.shape)) throw new SilicaError(`${at(key)}: not a configuration field (expected one of ${Object.keys(bertPointSchema.shape).join(', ')})`);
  }
}

/** Where `field` of study `i`'s `set` (over the baseline) is written. */
function setPath(exp: BertExperiment, i: number): FieldPath {
  const set = exp.studies[i]!.set;
  return (field) => (field in set ? `studies.${i}.set.${field}` : `baseline.${field}`);
}

/** The points of one study: the cross product of its axes, over baseline + set. */
export function studyPoints(exp: BertExperiment, i: number): BertPoint[] {
  const s = exp.studies[i]!;
  const outer = setPath(exp, i);
  const base = resolvePoint(exp.baseline, s.set, outer);
  // An axis is named as a whole here; a value of it, by its index, below.
  checkFieldNames(Object.keys(s.vary), (axis) => `studies.${i}.vary.${axis}`);
  // Each combination keeps the index of its value on every axis, for the path of a bad one.
  let combos: Array<{ values: Record<string, unknown>; index: Record<string, number> }> = [{ values: {}, index: {} }];
  for (const [axis, values] of Object.entries(s.vary)) {
    combos = combos.flatMap((c) => values.map((v, k) => ({ values: { ...c.values, [axis]: v }, index: { ...c.index, [axis]: k } })));
  }
  return combos.map((c) => resolvePoint(base, c.values, (field) => (field in c.index ? `studies.${i}.vary.${field}.${c.index[field]}` : outer(field))));
}

/** Every hardware the experiment's configurations name (baseline, studies, roofline), once each, with where it is first written. */
export function experimentHardware(exp: BertExperiment): Array<{ hw: string; at: string }> {
  const found = new Map<string, string>();
  const add = (hw: unknown, at: string) => {
    if (typeof hw === 'string' && !found.has(hw)) found.set(hw, at);
  };
  add(exp.baseline.hw, 'baseline.hw');
  exp.studies.forEach((s, i) => {
    add(s.set.hw, `studies.${i}.set.hw`);
    (s.vary.hw ?? []).forEach((hw, k) => add(hw, `studies.${i}.vary.hw.${k}`));
  });
  add(exp.roofline.hw, 'roofline.hw');
  return [...found].map(([hw, at]) => ({ hw, at }));
}

/**
 * Runs points with shared costers (one per hardware) and a result cache (studies share points). A
 * point's `hw`, a preset or a path, is read as its experiment file gives it: a path relative to
 * `baseDir`, the file's folder (the baseline's, a study's `set` or `vary` alike); the experiment's
 * `hw_overrides` are laid over each.
 */
export class StudyRunner {
  private readonly costers = new Map<string, HardwareCoster>();
  private readonly results = new Map<string, IterationResult>();

  constructor(
    private readonly baseDir?: string,
    private readonly overrides: HardwareOverrides = {},
  ) {}

  coster(hw: string): HardwareCoster {
    let c = this.costers.get(hw);
    if (!c) {
      const ref = hardwareRef(hw, this.baseDir);
      this.costers.set(hw, (c = new HardwareCoster(ref, overrideOverlays(ref, hw, this.overrides))));
    }
    return c;
  }

  run(point: BertPoint): IterationResult {
    const key = JSON.stringify(point);
    let r = this.results.get(key);
    if (!r) this.results.set(key, (r = simulateIteration(point, this.coster(point.hw))));
    return r;
  }

  cacheStats(): { kernel_lookups: number; kernel_shapes_costed: number; hit_rate: number } {
    let lookups = 0;
    let misses = 0;
    for (const c of this.costers.values()) {
      lookups += c.kernelLookups;
      misses += c.kernelMisses;
    }
    return { kernel_lookups: lookups, kernel_shapes_costed: misses, hit_rate: lookups ? 1 - misses / lookups : 0 };
  }
}
