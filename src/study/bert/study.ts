import { z } from 'zod';
import { SilicaError } from '../../core/errors.js';
import { hardwareRef } from '../../hw/config/load.js';
import { hardwareOverridesSchema, overrideOverlays, type HardwareOverrides } from '../../hw/config/overrides.js';
import { HardwareCoster } from './coster.js';
import { simulateIteration, type IterationResult } from './iteration.js';
import { bertPointSchema, parallelismProblem, type BertPoint } from './point.js';
import { optimizerImplProblem, zeroStageProblem } from '../../sw/train/optimizer.js';

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
  .strict();

export type BertExperiment = z.infer<typeof bertExperimentSchema>;
export type BertStudy = z.infer<typeof bertStudySchema>;

export function resolvePoint(base: BertPoint, over: Record<string, unknown>, where: string): BertPoint {
  for (const key of Object.keys(over)) {
    if (!(key in bertPointSchema.shape)) throw new SilicaError(`${where}.${key}: not a configuration field (expected one of ${Object.keys(bertPointSchema.shape).join(', ')})`);
  }
  const r = bertPointSchema.safeParse({ ...base, ...over });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SilicaError(`${where}.${issue.path.join('.')}: ${issue.message}`);
  }
  const implProblem = optimizerImplProblem(r.data.optimizer, r.data.optimizer_impl);
  if (implProblem) throw new SilicaError(`${where}.optimizer_impl: ${implProblem}`);
  const zeroProblem = zeroStageProblem(r.data.zero_stage, r.data.optimizer, r.data.optimizer_impl);
  if (zeroProblem) throw new SilicaError(`${where}.zero_stage: ${zeroProblem}`);
  const parallel = parallelismProblem(r.data);
  if (parallel) throw new SilicaError(`${where}.${parallel.field}: ${parallel.message}`);
  return r.data;
}

/** The points of one study: the cross product of its axes, over baseline + set. */
export function studyPoints(exp: BertExperiment, i: number): BertPoint[] {
  const s = exp.studies[i]!;
  const base = resolvePoint(exp.baseline, s.set, `studies.${i}.set`);
  let combos: Array<Record<string, unknown>> = [{}];
  for (const [axis, values] of Object.entries(s.vary)) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [axis]: v })));
  return combos.map((c) => resolvePoint(base, c, `studies.${i}.vary`));
}

/** Every hardware the experiment's configurations name (baseline, studies, roofline), once each. */
export function experimentHardware(exp: BertExperiment): string[] {
  const names = new Set<string>();
  const add = (hw: unknown) => {
    if (typeof hw === 'string') names.add(hw);
  };
  add(exp.baseline.hw);
  for (const s of exp.studies) {
    add(s.set.hw);
    for (const hw of s.vary.hw ?? []) add(hw);
  }
  add(exp.roofline.hw);
  return [...names];
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
