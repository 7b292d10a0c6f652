import { availableParallelism } from 'node:os';
import type { z } from 'zod';
import { Registry } from '../core/registry.js';

/**
 * Experiment kinds, keyed by the `kind:` field of an experiment YAML (configs/experiments/*.yaml).
 * `silica run FILE --out DIR` and `silica sweep` both resolve a kind here, validate the file with its
 * schema and call `run`. A new study is one file that calls `registerExperiment` plus one import
 * line in src/study/index.ts.
 */
export interface ExperimentContext {
  /** Output directory, when the caller wants files (figures, extra tables). */
  outDir?: string;
  /** Progress callback: fraction done in [0, 1] and a short label. */
  progress?: (fraction: number, label: string) => void;
  /** Directory of the experiment file, for resolving relative paths inside it. */
  baseDir?: string;
  /**
   * Lanes (this thread plus workers) the experiment may run its own independent runs on, where its
   * config does not say (`jobs`). Default: the cores available, at most 4. A sweep gives its points
   * one each: the sweep already keeps every core busy, one point per lane.
   */
  lanes?: number;
  /** Lanes the user asked for on the command line (`silica run --jobs N`): over the config's `jobs`. */
  jobs?: number;
}

/**
 * The lanes an experiment runs its `cases` on, at most one per case: the command line's --jobs,
 * else its `jobs` field, else what its caller allows, else the cores available up to 4. Lanes asked
 * for are given; a default one also gets at least `casesPerLane` cases (a worker costs start-up
 * time before it pays).
 */
export function experimentLanes(jobs: number | undefined, ctx: ExperimentContext, cases: number, casesPerLane = 1): number {
  const asked = ctx.jobs ?? jobs;
  const lanes = asked ?? Math.min(ctx.lanes ?? Math.min(4, availableParallelism()), Math.floor(cases / casesPerLane));
  return Math.max(1, Math.min(lanes, cases));
}

export interface ExperimentResult {
  /** Tidy rows: one observation per row, units in column names. */
  rows: Array<Record<string, string | number | boolean>>;
  /** Headline figures (geomeans, goodput, ...) for the summary JSON. */
  summary?: Record<string, unknown>;
  /** Files the experiment wrote under outDir (relative paths), e.g. SVG figures. */
  files?: string[];
}

export interface ExperimentKind<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  schema: S;
  run(config: z.infer<S>, ctx: ExperimentContext): Promise<ExperimentResult> | ExperimentResult;
  /**
   * Checks what the schema cannot see (a hardware preset exists, its overrides are valid), cheaply:
   * called whenever a config is resolved, so a sweep refuses a bad point before running any.
   */
  check?(config: z.infer<S>, ctx: { baseDir: string }): void;
}

const kinds = new Registry<ExperimentKind>('experiment kind');

export function registerExperiment<S extends z.ZodType>(kind: ExperimentKind<S>): void {
  kinds.register(kind.name, kind as unknown as ExperimentKind);
}

export function experimentKind(name: string): ExperimentKind | undefined {
  return kinds.get(name);
}

export function experimentKinds(): string[] {
  return kinds.names();
}
