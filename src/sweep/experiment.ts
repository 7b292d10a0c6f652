import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { SilicaError, describe } from '../core/errors.js';
import { Registry } from '../core/registry.js';
import { applyOverlays, readYamlFile, validate } from '../core/yaml-config.js';
import { experimentKind, experimentKinds, type ExperimentContext, type ExperimentKind, type ExperimentResult } from '../study/registry.js';

/**
 * Experiment configs: a YAML mapping whose `kind:` names a registered experiment kind
 * (src/study/registry.ts). Loading = read, overlay `--set` edits, expand kind-specific references
 * (a suite's sub-experiment paths), validate with the kind's schema. `silica run`, sweep points
 * and suites all go through `resolveExperiment`, so they report errors the same way.
 */
export interface ResolvedExperiment {
  kind: ExperimentKind;
  /** The validated config (defaults filled in): what `config.resolved.yaml` records. */
  config: unknown;
  /** Where the config came from, for error messages. */
  file: string;
  /** Directory relative paths inside the config resolve against. */
  baseDir: string;
}

/**
 * Kind-specific expansion of a raw tree before validation, e.g. a suite inlining the experiment
 * files it references so its resolved config stands alone. Keyed by kind name.
 */
export type ConfigExpander = (raw: Record<string, unknown>, baseDir: string, file: string) => Record<string, unknown>;
const expanders = new Registry<ConfigExpander>('config expander for kind');

export function registerConfigExpander(kind: string, expander: ConfigExpander): void {
  expanders.register(kind, expander);
}

/**
 * `overlays` (--set) may name fields the file leaves to their defaults: the kind's schema, which
 * knows every field and lists them when one is unknown, judges the result, not the file's keys.
 */
export function loadExperimentFile(path: string, overlays: readonly string[] = []): ResolvedExperiment {
  const raw = applyOverlays(readYamlFile(path), overlays, path, true);
  const { tree, baseDir } = withBaseDir(raw, path);
  return resolveExperiment(tree, path, baseDir);
}

/**
 * Relative paths in an experiment file (a hardware YAML, a request trace) resolve against its
 * folder, or against `base_dir:` (itself relative to the file) where the file names one: a run's
 * config.resolved.yaml lies in its output folder, and names the original folder so that it reruns
 * as the original did.
 */
function withBaseDir(raw: unknown, path: string): { tree: unknown; baseDir: string } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || !('base_dir' in raw)) return { tree: raw, baseDir: dirname(path) };
  const { base_dir: dir, ...tree } = raw as Record<string, unknown>;
  if (typeof dir !== 'string' || dir === '') throw new SilicaError(`${path}: base_dir: expected the folder relative paths in this file resolve against, got ${describe(dir)}`);
  const baseDir = resolve(dirname(path), dir);
  if (!existsSync(baseDir) || !statSync(baseDir).isDirectory()) throw new SilicaError(`${path}: base_dir: no such folder ${dir} (${baseDir})`);
  return { tree, baseDir };
}

export function resolveExperiment(raw: unknown, file: string, baseDir: string, fieldPrefix = ''): ResolvedExperiment {
  // A suite's prefix is a field path (experiments.1.experiment.kind); a sweep's names a point
  // (point 3 (hw=mi300x): kind), as the schema's messages below do.
  const where = !fieldPrefix ? '' : /^[\w.-]+$/.test(fieldPrefix) ? `${fieldPrefix}.` : `${fieldPrefix}: `;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SilicaError(`${file}: ${fieldPrefix || '(top level)'}: expected an experiment mapping with a kind field, got ${describe(raw)}`);
  }
  const kind = kindOf(raw as Record<string, unknown>, file, where);
  const expander = expanders.get(kind.name);
  const tree = expander ? expander(raw as Record<string, unknown>, baseDir, file) : raw;
  const config = validateExperiment(kind, tree, file, fieldPrefix);
  try {
    kind.check?.(config, { baseDir });
  } catch (err) {
    if (err instanceof SilicaError && !err.message.startsWith(file)) throw new SilicaError(`${file}: ${fieldPrefix ? `${fieldPrefix}: ` : ''}${err.message}`);
    throw err;
  }
  return { kind, config, file, baseDir };
}

function kindOf(raw: Record<string, unknown>, file: string, where: string): ExperimentKind {
  const name = raw.kind;
  const known = experimentKinds();
  if (typeof name !== 'string') {
    // A sweep file (base + axes) given where an experiment is expected: say which command runs it.
    const sweepFile = name === undefined && !where && 'base' in raw;
    throw new SilicaError(`${file}: ${where}kind: expected the name of an experiment kind (${known.join(', ')})${name === undefined ? ` (missing${sweepFile ? '; this is a sweep file: run it with silica sweep' : ''})` : `, got ${describe(name)}`}`);
  }
  const kind = experimentKind(name);
  if (!kind) throw new SilicaError(`${file}: ${where}kind: expected one of ${known.join(', ')}, got "${name}"`);
  return kind;
}

/**
 * Validates with the kind's schema. Kinds may or may not declare the `kind` field in their schema;
 * both are accepted: the config is tried as written, then without `kind`.
 */
export function safeParseExperiment(kind: ExperimentKind, raw: unknown): ReturnType<z.ZodType['safeParse']> {
  const full = kind.schema.safeParse(raw);
  if (full.success || !raw || typeof raw !== 'object') return full;
  const { kind: _drop, ...rest } = raw as Record<string, unknown>;
  const bare = kind.schema.safeParse(rest);
  if (bare.success) return { success: true, data: { kind: kind.name, ...(bare.data as Record<string, unknown>) } } as ReturnType<z.ZodType['safeParse']>;
  const firstIssue = full.error.issues[0];
  const rejectsKind = firstIssue?.code === 'unrecognized_keys' && (firstIssue as { keys: string[] }).keys.includes('kind') && firstIssue.path.length === 0;
  return rejectsKind ? bare : full;
}

function validateExperiment(kind: ExperimentKind, raw: unknown, file: string, fieldPrefix: string): unknown {
  const result = safeParseExperiment(kind, raw);
  if (result.success) return result.data;
  // Re-run the failing parse through the shared formatter for a one-line "file: field: ..." error.
  const prefixed = fieldPrefix ? `${file}: ${fieldPrefix}` : file;
  const schemaForMessage = { safeParse: () => result } as unknown as z.ZodType;
  return validate(schemaForMessage, raw, prefixed, kind.schema);
}

/** Runs a resolved experiment and checks the shape of what the kind returned. */
export async function runExperiment(exp: ResolvedExperiment, ctx: Omit<ExperimentContext, 'baseDir'> = {}): Promise<ExperimentResult> {
  const result = await exp.kind.run(exp.config as never, { ...ctx, baseDir: exp.baseDir });
  if (!result || !Array.isArray(result.rows)) throw new Error(`experiment kind ${exp.kind.name} returned no rows array`);
  return result;
}
