import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { SilicaError, describe } from '../core/errors.js';
import { firstRepeat } from '../core/repeats.js';
import { Rng } from '../core/rng.js';
import { isMapping, readYamlFile } from '../core/yaml-config.js';
import { canonicalJson, stableHash } from './canonical.js';
import { InputDigests } from './inputs.js';
import type { PinnedFile } from '../core/pinned-files.js';
import { resolveExperiment } from './experiment.js';
import { filterPaths, parseFilters, passesFilters, type SweepFilter } from './filters.js';
import { lookupPath, setPath } from '../core/tree.js';

/**
 * Sweep files (configs/sweeps/*.yaml):
 *
 *   name: gemm-cu-scaling            # optional; defaults to the file name
 *   base: ../experiments/x.yaml      # an experiment file, or an inline experiment mapping
 *   set: { hw: h100-sxm }            # overlays on the base for every point (dotted paths)
 *   axes:                            # dotted path -> values; or path -> {name: column, values: [...]}
 *     hw: [mi300x, h100-sxm]
 *     points.0.m: [1024, 4096]
 *     cus.0: { from: 8, to: 304, step: 8 }      # a range, ends included (or times: 2, geometric)
 *   expand: grid                     # grid (every combination) or zip (i-th value of every axis)
 *   variants:                        # named overlay sets, crossed with the axes
 *     - { name: baseline }
 *     - { name: slow-hbm, set: { hw_overrides.memory.hbm.efficiency: 0.5 } }
 *   filters:
 *     - exclude: { hw: h100-sxm, points.0.m: 1024 }
 *   sample: { points: 200, seed: 1 } # optional: run 200 of the points the filters keep, drawn at random
 *
 * Every path must exist in the base experiment (a typo fails at load, not after an hour of runs).
 * Points are numbered in expansion order (variants outermost, then axes in file order with the last
 * varying fastest) after filtering; a point's id is the hash of its resolved config and tags.
 */
export interface Axis {
  path: string;
  column: string;
  values: unknown[];
}

export interface SweepPoint {
  index: number;
  id: string;
  variant?: string;
  /** Column values that tag every row of the point: variant and axis values. */
  tags: Record<string, string | number | boolean>;
  /**
   * The point's experiment tree before validation: what a worker resolves again. The resolved
   * config is not kept (resolvedConfigOf makes it again): the validator's output shares nothing
   * between points, and held for every point it made most of a large sweep's memory.
   */
  raw: unknown;
}

export interface SweepSpec {
  file: string;
  name: string;
  description?: string;
  baseDir: string;
  /** Where the base came from: a file path, or "inline". */
  baseSource: string;
  /** Hash of the base experiment with `set` applied: shards of one sweep file edited between their runs differ here. */
  baseId: string;
  /**
   * Digests of the files the sweep names by path (in the base, a variant or an axis): shards run
   * before and after one was edited differ here. Undefined when it names none.
   */
  files?: Record<string, string>;
  /** Their text where they are text inputs (hardware YAML, request traces), as digested: what the points read (pinFiles). */
  pins?: Record<string, PinnedFile>;
  axes: Axis[];
  expand: 'grid' | 'zip';
  variants: Array<{ name: string; set: Record<string, unknown> }>;
  filters: SweepFilter[];
  /** `sample:`, when the sweep runs a random subset of its points. */
  sample?: SweepSample;
  /** The points loaded: every point of the sweep, or one shard's (loadSweep's `shard`). */
  points: SweepPoint[];
  /** Points of the whole sweep, after filtering (and sampling). */
  total: number;
  /** Points before filtering. */
  expanded: number;
  /** With `sample:`, the points the filters kept, which the sample was drawn from. */
  sampledFrom?: number;
}

/**
 * A design space too large to run whole is explored by a uniform random subset of it: `points` of
 * the points the filters keep, all equally likely, the same ones for the same seed (and so for
 * every shard of the sweep). The subset keeps expansion order and is numbered from 0.
 */
export interface SweepSample {
  points: number;
  seed: number;
}

const TOP_KEYS = new Set(['name', 'description', 'base', 'set', 'axes', 'expand', 'variants', 'filters', 'sample']);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Expanding and checking takes some 35 us a point (a million points: half a minute): `onProgress`
 * hears how far it got, every few thousand points, with the number of points before filtering.
 */
export type ExpansionProgress = (expanded: number, total: number) => void;

export interface LoadOptions {
  /**
   * Only this shard's points are validated, identified and kept (what `--shard i/N` runs): the
   * others are only numbered (filters apply to the unvalidated tree), so each task of a job array
   * pays for its own points, not for the whole sweep's.
   */
  shard?: { index: number; count: number };
  onProgress?: ExpansionProgress;
}

export function loadSweep(file: string, options: LoadOptions = {}): SweepSpec {
  const { shard, onProgress } = options;
  const raw = readYamlFile(file);
  if (!isMapping(raw)) throw new SilicaError(`${file}: (top level): expected a sweep mapping with base and axes, got ${describe(raw)}`);
  const unknown = Object.keys(raw).filter((k) => !TOP_KEYS.has(k));
  if (unknown.length) {
    // An experiment file (kind, no base) given where a sweep is expected: say which command runs it.
    const experimentFile = Object.hasOwn(raw, 'kind') && !Object.hasOwn(raw, 'base') ? ' (this is an experiment file: run it with silica run, or name it as a sweep\'s base)' : '';
    throw new SilicaError(`${file}: (top level): expected no unknown fields (${unknown.join(', ')}); allowed: ${[...TOP_KEYS].join(', ')}${experimentFile}`);
  }

  const name = raw.name ?? defaultName(file);
  if (typeof name !== 'string' || !NAME.test(name)) throw new SilicaError(`${file}: name: expected letters, digits, '.', '_' or '-', got ${describe(name)}`);
  if (raw.description !== undefined && typeof raw.description !== 'string') throw new SilicaError(`${file}: description: expected a string, got ${describe(raw.description)}`);

  const { base, baseDir, baseSource } = loadBase(raw.base, file);
  const set = mappingField(raw.set, file, 'set');
  const expand = raw.expand ?? 'grid';
  if (expand !== 'grid' && expand !== 'zip') throw new SilicaError(`${file}: expand: expected grid or zip, got ${describe(expand)}`);
  const axes = parseAxes(raw.axes, file);
  const variants = parseVariants(raw.variants, file);
  const filters = parseFilters(raw.filters, file);
  const sample = parseSample(raw.sample, file);

  if (expand === 'zip' && axes.length > 1) {
    const lengths = axes.map((a) => a.values.length);
    if (lengths.some((n) => n !== lengths[0])) {
      throw new SilicaError(`${file}: axes: expand: zip needs axes of equal length, got ${axes.map((a) => `${a.path}=${a.values.length}`).join(', ')}`);
    }
  }

  checkDistinctCombinations(axes, expand, file);

  // Check every path against the base before expanding anything.
  let common: unknown = base;
  const baseDefaults = kindDefaults(base, file, baseDir);
  for (const [path, value] of Object.entries(set)) common = overlay(common, path, value, file, `set.${path}`, baseDefaults);
  const defaults = kindDefaults(common, file, baseDir);
  for (const v of variants) for (const path of Object.keys(v.set)) requirePath(common, path, file, `variants.${v.name}.set.${path}`, defaults);
  for (const a of axes) requirePath(common, a.path, file, `axes.${a.path}`, defaults);
  for (const f of filterPaths(filters)) if (f.path !== 'variant') requirePath(common, f.path, file, f.field, defaults);
  checkVariantConditions(filters, variants, file);

  const combinations = variants.length * combinationCount(axes, expand);
  const kept = (onExpanded?: (expanded: number) => void) => keptTrees(common, variants, axes, expand, filters, onExpanded);
  // Sampling needs the number of points the filters keep before it can draw: a first pass counts
  // them, without validating anything (without filters it is the number of combinations).
  let sampledFrom: number | undefined;
  let chosen: Set<number> | undefined;
  if (sample) {
    sampledFrom = filters.length ? countOf(kept()) : combinations;
    if (sampledFrom === 0) throw noneSurvive(file, combinations);
    if (sample.points > sampledFrom) throw new SilicaError(`${file}: sample.points: expected at most the ${sampledFrom} points the axes${filters.length ? ' and filters' : ''} give, got ${sample.points}`);
    chosen = samplePositions(sampledFrom, sample.points, sample.seed);
  }

  const points: SweepPoint[] = [];
  const inputs = new InputDigests(baseDir);
  let total = 0; // points kept by the filters (and the sample), so far
  let keptSoFar = 0;
  for (const { variant, combo, tree } of kept((expanded) => onProgress?.(expanded, combinations))) {
    if (chosen && !chosen.has(keptSoFar++)) continue;
    const index = total++;
    if (shard && index % shard.count !== shard.index) continue;
    const tags: Record<string, string | number | boolean> = {};
    if (variant.name) tags.variant = variant.name;
    combo.forEach((value, i) => (tags[axes[i]!.column] = tagValue(value)));
    const label = pointLabel(index, tags);
    const resolved = resolveExperiment(tree, file, baseDir, label);
    checkSweptPathsKept(resolved.config, [...axes.map((a) => a.path), ...Object.keys(variant.set)], file, label);
    // A sweep that reads no file by path keeps the ids it always had.
    const files = inputs.of(resolved.config);
    points.push({ index, id: stableHash(files ? { config: resolved.config, tags, files } : { config: resolved.config, tags }), variant: variant.name || undefined, tags, raw: tree });
  }
  onProgress?.(combinations, combinations);
  if (total === 0) throw noneSurvive(file, combinations);
  // Every string a point holds comes from the base, a variant's set or an axis: the sweep's files are theirs.
  const files = inputs.of([common, variants.map((v) => v.set), axes.map((a) => a.values)]);
  const pins = inputs.pins();
  return { file, name, description: raw.description as string | undefined, baseDir, baseSource, baseId: stableHash(common), files, ...(pins ? { pins } : {}), axes, expand, variants, filters, sample, points, total, expanded: combinations, sampledFrom };
}

/**
 * A value repeated on a grid axis (or a combination repeated by zipped axes) would make two points
 * with the same config and tags: the same point id twice, which --resume and merge rightly take for
 * one point. Refused where it is written rather than run twice.
 */
function checkDistinctCombinations(axes: Axis[], expand: 'grid' | 'zip', file: string): void {
  if (expand === 'grid' || axes.length === 1) {
    for (const a of axes) {
      const r = firstRepeat(a.values, canonicalJson);
      if (r) throw new SilicaError(`${file}: axes.${a.path}: expected distinct values, got ${describe(a.values[r.again])} twice (values ${r.first} and ${r.again}: the same points twice)`);
    }
    return;
  }
  const positions = axes[0]!.values.map((_, i) => i);
  const r = firstRepeat(positions, (i) => canonicalJson(axes.map((a) => a.values[i])));
  if (r) {
    throw new SilicaError(`${file}: axes: expected distinct zipped combinations, got ${axes.map((a) => `${a.path}=${describe(a.values[r.again])}`).join(', ')} twice (positions ${r.first} and ${r.again}: the same points twice)`);
  }
}

/**
 * `variant` in a filter is not a path of the base but the variant's name: a closed set, so a name
 * no variant has (a typo, or a sweep without variants) is refused here, as an unknown path is,
 * rather than matching nothing and quietly keeping (or dropping) every point.
 */
function checkVariantConditions(filters: readonly SweepFilter[], variants: SweepSpec['variants'], file: string): void {
  const names = variants.map((v) => v.name).filter((n) => n !== '');
  filters.forEach((f, i) => {
    for (const { path, test } of f.conditions) {
      if (path !== 'variant') continue;
      const field = `filters.${i}.${f.action}.variant`;
      if (names.length === 0) throw new SilicaError(`${file}: ${field}: expected a sweep with variants, got none (no point has a variant to match)`);
      if (test.min !== undefined || test.max !== undefined) throw new SilicaError(`${file}: ${field}: expected a variant name, a list or {in, not} of them, got ${test.min !== undefined ? 'min' : 'max'} (variants are names, not numbers)`);
      const given = [...('equals' in test ? [test.equals] : []), ...(test.in ?? []), ...(test.not ?? [])];
      const bad = given.findIndex((v) => typeof v !== 'string' || !names.includes(v));
      if (bad >= 0) throw new SilicaError(`${file}: ${field}: expected a variant name (${names.join(', ')}), got ${describe(given[bad])}`);
    }
  });
}

function noneSurvive(file: string, expanded: number): SilicaError {
  return new SilicaError(`${file}: filters: expected at least one point to survive, got none of ${expanded}`);
}

/**
 * Every combination of every variant that passes the filters, in expansion order; `onExpanded`
 * hears every PROGRESS_EVERY combinations how many were expanded, kept or not.
 */
function* keptTrees(
  common: unknown,
  variants: SweepSpec['variants'],
  axes: Axis[],
  expand: 'grid' | 'zip',
  filters: SweepFilter[],
  onExpanded?: (expanded: number) => void,
): Generator<{ variant: SweepSpec['variants'][number]; combo: unknown[]; tree: unknown }> {
  let expanded = 0;
  for (const variant of variants) {
    let variantTree: unknown = common;
    for (const [path, value] of Object.entries(variant.set)) variantTree = setPath(variantTree, path, value);
    for (const combo of expandAxes(axes, expand)) {
      if (++expanded % PROGRESS_EVERY === 0) onExpanded?.(expanded);
      let tree: unknown = variantTree;
      combo.forEach((value, i) => (tree = setPath(tree, axes[i]!.path, value)));
      if (passesFilters(filters, tree, variant.name || undefined)) yield { variant, combo, tree };
    }
  }
}

function countOf(items: Iterable<unknown>): number {
  let n = 0;
  for (const _ of items) n++;
  return n;
}

/**
 * `k` distinct positions in [0, n), every k-subset equally likely (Floyd's algorithm: k draws and a
 * set of k, never an array of n, so sampling a million-point grid holds only the sample).
 */
export function samplePositions(n: number, k: number, seed: number): Set<number> {
  const rng = new Rng(seed, 'sweep.sample');
  const chosen = new Set<number>();
  for (let j = n - k; j < n; j++) {
    const t = rng.int(0, j);
    chosen.add(chosen.has(t) ? j : t);
  }
  return chosen;
}

function parseSample(raw: unknown, file: string): SweepSample | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isMapping(raw)) throw new SilicaError(`${file}: sample: expected a mapping {points, seed}, got ${describe(raw)}`);
  const extra = Object.keys(raw).filter((k) => k !== 'points' && k !== 'seed');
  if (extra.length) throw new SilicaError(`${file}: sample: expected fields points and seed, got unknown field ${extra[0]}`);
  const { points, seed = 0 } = raw;
  if (typeof points !== 'number' || !Number.isInteger(points) || points < 1) throw new SilicaError(`${file}: sample.points: expected a positive whole number${points === undefined ? ' (missing)' : `, got ${describe(points)}`}`);
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0x7fffffff) throw new SilicaError(`${file}: sample.seed: expected a whole number from 0 to 2147483647, got ${describe(seed)}`);
  return { points, seed };
}

/** A point's full experiment config, validated and with defaults filled in (as loadSweep checked it). */
export function resolvedConfigOf(spec: Pick<SweepSpec, 'file' | 'baseDir'>, p: SweepPoint): unknown {
  return resolveExperiment(p.raw, spec.file, spec.baseDir, pointLabel(p.index, p.tags)).config;
}

/** How messages name a point: `point 3 (hw=mi300x, m=1024)`. */
export function pointLabel(index: number, tags: Record<string, unknown>): string {
  return `point ${index}${describeTags(tags)}`;
}

const PROGRESS_EVERY = 4096;

function defaultName(file: string): string {
  return (file.split('/').pop() ?? 'sweep').replace(/\.ya?ml$/, '').replace(/[^A-Za-z0-9._-]/g, '-');
}

function loadBase(base: unknown, file: string): { base: Record<string, unknown>; baseDir: string; baseSource: string } {
  const sweepDir = dirname(file);
  if (typeof base === 'string') {
    const path = isAbsolute(base) ? base : join(sweepDir, base);
    if (!existsSync(path)) throw new SilicaError(`${file}: base: expected an experiment file, no such file ${base} (relative to ${sweepDir})`);
    const tree = readYamlFile(path);
    if (!isMapping(tree)) throw new SilicaError(`${path}: (top level): expected an experiment mapping with a kind field, got ${describe(tree)}`);
    return { base: tree, baseDir: dirname(path), baseSource: relative(process.cwd(), path) || path };
  }
  if (isMapping(base)) return { base, baseDir: sweepDir, baseSource: 'inline' };
  throw new SilicaError(`${file}: base: expected a path to an experiment file or an inline experiment mapping${base === undefined ? ' (missing)' : `, got ${describe(base)}`}`);
}

function mappingField(value: unknown, file: string, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) throw new SilicaError(`${file}: ${field}: expected a mapping of dotted path: value, got ${describe(value)}`);
  return value;
}

function parseAxes(raw: unknown, file: string): Axis[] {
  const axes: Axis[] = [];
  if (raw === undefined || raw === null) return axes;
  if (!isMapping(raw)) throw new SilicaError(`${file}: axes: expected a mapping of dotted path: [values], got ${describe(raw)}`);
  for (const [path, spec] of Object.entries(raw)) {
    const field = `axes.${path}`;
    let values: unknown;
    let column = path.replace(/[^A-Za-z0-9_]/g, '_');
    if (isMapping(spec)) {
      const extra = Object.keys(spec).filter((k) => !AXIS_KEYS.has(k));
      if (extra.length) throw new SilicaError(`${file}: ${field}: expected a list of values, {name, values} or a range {from, to, step|times}, got unknown field ${extra[0]}`);
      if (spec.name !== undefined) {
        if (typeof spec.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(spec.name)) throw new SilicaError(`${file}: ${field}.name: expected a column name (letters, digits, _), got ${describe(spec.name)}`);
        column = spec.name;
      }
      const isRange = RANGE_KEYS.some((k) => spec[k] !== undefined);
      if (isRange && spec.values !== undefined) throw new SilicaError(`${file}: ${field}: expected values or a range (from, to, step|times), got both`);
      values = isRange ? rangeValues(spec, file, field) : spec.values;
    } else {
      values = spec;
    }
    if (!Array.isArray(values)) throw new SilicaError(`${file}: ${field}: expected a list of values, got ${describe(values)}`);
    if (values.length === 0) throw new SilicaError(`${file}: ${field}: expected at least one value (an empty axis gives no points)`);
    if (axes.some((a) => a.column === column) || column === 'variant' || column === 'point' || column === 'point_id') {
      throw new SilicaError(`${file}: ${field}: column name "${column}" is already taken; give the axis a name: {name: ..., values: [...]}`);
    }
    axes.push({ path, column, values });
  }
  return axes;
}

const RANGE_KEYS = ['from', 'to', 'step', 'times'];
const AXIS_KEYS = new Set(['name', 'values', ...RANGE_KEYS]);

/** Most values a range may give: a typo in `step` should not expand into an hour of points. */
const MAX_RANGE_VALUES = 100_000;

/**
 * An axis written as a range, ends included: `{from: 8, to: 304, step: 4}` (8, 12, ..., 304) or
 * `{from: 128, to: 16384, times: 2}` (128, 256, ..., 16384). Values are computed as from + i x step
 * (or from x times^i), not by repeated addition, and rounded to 12 significant digits, so a decimal
 * step gives the decimals written (0.1 steps give 0.3, not 0.30000000000000004).
 */
function rangeValues(spec: Record<string, unknown>, file: string, field: string): number[] {
  const num = (key: string): number => {
    const v = spec[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SilicaError(`${file}: ${field}.${key}: expected a number${v === undefined ? ' (missing)' : `, got ${describe(v)}`}`);
    return v;
  };
  const from = num('from');
  const to = num('to');
  if (to < from) throw new SilicaError(`${file}: ${field}.to: expected at least from (${from}), got ${to}`);
  if ((spec.step === undefined) === (spec.times === undefined)) throw new SilicaError(`${file}: ${field}: expected one of step (arithmetic) or times (geometric), got ${spec.step === undefined ? 'neither' : 'both'}`);
  const clean = (x: number) => Number(x.toPrecision(12));
  const values: number[] = [];
  if (spec.step !== undefined) {
    const step = num('step');
    if (!(step > 0)) throw new SilicaError(`${file}: ${field}.step: expected a positive number, got ${step}`);
    const count = Math.floor((to - from) / step + 1e-9) + 1;
    if (count > MAX_RANGE_VALUES) throw new SilicaError(`${file}: ${field}: expected at most ${MAX_RANGE_VALUES} values, got ${count} (from ${from} to ${to} by ${step})`);
    for (let i = 0; i < count; i++) values.push(clean(from + i * step));
  } else {
    const times = num('times');
    if (!(times > 1)) throw new SilicaError(`${file}: ${field}.times: expected a number above 1, got ${times}`);
    if (!(from > 0)) throw new SilicaError(`${file}: ${field}.from: expected a positive number for a geometric range (times), got ${from}`);
    for (let i = 0; ; i++) {
      const v = from * times ** i;
      if (v > to * (1 + 1e-9)) break;
      if (values.length === MAX_RANGE_VALUES) throw new SilicaError(`${file}: ${field}: expected at most ${MAX_RANGE_VALUES} values (from ${from} to ${to} times ${times})`);
      values.push(clean(v));
    }
  }
  return values;
}

function parseVariants(raw: unknown, file: string): Array<{ name: string; set: Record<string, unknown> }> {
  if (raw === undefined || raw === null) return [{ name: '', set: {} }];
  if (!Array.isArray(raw) || raw.length === 0) throw new SilicaError(`${file}: variants: expected a non-empty list of {name, set}, got ${describe(raw)}`);
  const names = new Set<string>();
  return raw.map((v, i) => {
    if (!isMapping(v)) throw new SilicaError(`${file}: variants.${i}: expected a mapping {name, set}, got ${describe(v)}`);
    const extra = Object.keys(v).filter((k) => !['name', 'set', 'description'].includes(k));
    if (extra.length) throw new SilicaError(`${file}: variants.${i}: expected fields name, set, description; got unknown field ${extra[0]}`);
    if (typeof v.name !== 'string' || !NAME.test(v.name)) throw new SilicaError(`${file}: variants.${i}.name: expected letters, digits, '.', '_' or '-', got ${describe(v.name)}`);
    if (names.has(v.name)) throw new SilicaError(`${file}: variants.${i}.name: expected a unique name, "${v.name}" appears twice`);
    names.add(v.name);
    return { name: v.name, set: mappingField(v.set, file, `variants.${i}.set`) };
  });
}

/**
 * The base experiment as its kind reads it, defaults filled in, computed only when a path is
 * missing (to say so in the error); undefined where the base does not validate.
 */
function kindDefaults(tree: unknown, file: string, baseDir: string): () => unknown {
  let config: unknown;
  let done = false;
  return () => {
    if (!done) {
      done = true;
      try {
        config = resolveExperiment(tree, file, baseDir).config;
      } catch {
        config = undefined;
      }
    }
    return config;
  };
}

function requirePath(tree: unknown, path: string, file: string, field: string, defaults?: () => unknown): void {
  const found = lookupPath(tree, path);
  if (found.found) return;
  // A field the kind fills in by default is not in the tree a sweep overlays: say how to sweep it.
  const hint = defaults && lookupPath(defaults(), path).found ? `; the experiment kind defaults it: write ${found.missing} in the base to sweep it` : '';
  throw new SilicaError(`${file}: ${field}: unknown path in the base experiment (${found.reason}${hint})`);
}

function overlay(tree: unknown, path: string, value: unknown, file: string, field: string, defaults?: () => unknown): unknown {
  requirePath(tree, path, file, field, defaults);
  return setPath(tree, path, value);
}

/** Catches paths that exist in the YAML but that the kind's schema silently dropped. */
function checkSweptPathsKept(config: unknown, paths: string[], file: string, label: string): void {
  for (const path of paths) {
    if (!lookupPath(config, path).found) throw new SilicaError(`${file}: ${label}: ${path}: unknown path (the experiment kind ignores this field)`);
  }
}

/** How many combinations expandAxes yields. */
function combinationCount(axes: Axis[], expand: 'grid' | 'zip'): number {
  if (axes.length === 0) return 1;
  return expand === 'zip' ? axes[0]!.values.length : axes.reduce((n, a) => n * a.values.length, 1);
}

/**
 * The axes' value combinations, one at a time (a grid of millions is never held): zipped, or the
 * grid in order with the last axis varying fastest.
 */
function* expandAxes(axes: Axis[], expand: 'grid' | 'zip'): Generator<unknown[]> {
  if (expand === 'zip' || axes.length === 0) {
    for (let i = 0; i < combinationCount(axes, expand); i++) yield axes.map((a) => a.values[i]);
    return;
  }
  const at = axes.map(() => 0); // a mixed-radix counter over the axes
  for (;;) {
    yield axes.map((a, i) => a.values[at[i]!]);
    let i = axes.length - 1;
    for (; i >= 0 && ++at[i]! === axes[i]!.values.length; i--) at[i] = 0;
    if (i < 0) return;
  }
}

function tagValue(value: unknown): string | number | boolean {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}

function describeTags(tags: Record<string, unknown>): string {
  const parts = Object.entries(tags).map(([k, v]) => `${k}=${v}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
