import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../core/paths.js';
import { checkUniqueNames } from '../core/repeats.js';
import { readYamlFile, validate } from '../core/yaml-config.js';

/**
 * A validation point: a measured or published figure, the conditions to reproduce it through the
 * same code paths users use (a runner and its parameters), and a stated tolerance — either a
 * symmetric percentage or an accepted band [lo, hi] (for study headlines the issues state as ranges).
 */
export const pointSchema = z
  .object({
    name: z.string().min(1),
    runner: z.string().min(1),
    hw: z.string().optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    metric: z.string().min(1),
    unit: z.string().default(''),
    /** Errors are relative to it, so it must be a positive figure. */
    measured: z.number().positive(),
    tolerance_pct: z.number().positive().optional(),
    band: z.tuple([z.number(), z.number()]).optional(),
    source: z.string().min(1),
    conditions: z.string().default(''),
    /** Reported, never fails the run: a known gap of the model, shown rather than hidden. */
    informational: z.boolean().default(false),
    /**
     * A constant of the part was read off this very figure (docs/calibration.md), so matching it shows
     * the fit still holds, not that the model predicts: still checked against its tolerance (a miss
     * means the calibration broke), but left out of the group's mean error, which counts predictions.
     */
    fitted: z.boolean().default(false),
  })
  .strict()
  .refine((p) => p.tolerance_pct !== undefined || p.band !== undefined, { message: 'expected tolerance_pct or band' });

export const pointFileSchema = z
  .object({
    group: z.string().min(1),
    description: z.string().default(''),
    points: z.array(pointSchema).min(1),
  })
  .strict()
  // The report and --only find a point by its name: two of one name would read as one point.
  .superRefine((file, ctx) => void checkUniqueNames(ctx, 'points', file.points.map((p) => p.name)));

/** A point with where it was read from (`FILE: points.N`), for messages about it. */
export type ValidationPoint = z.infer<typeof pointSchema> & { group: string; origin?: string };

export function loadPointFile(path: string, shownAs = path): ValidationPoint[] {
  const file = validate(pointFileSchema, readYamlFile(path), shownAs);
  return file.points.map((p, i) => ({ ...p, group: file.group, origin: `${shownAs}: points.${i}` }));
}

/** Every shipped reference point (validation/*.yaml), in file then point order. */
export function shippedPoints(): ValidationPoint[] {
  const dir = join(packageRoot(), 'validation');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadPointFile(join(dir, f), `validation/${f}`));
}
