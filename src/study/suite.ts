import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { SilicaError, describe, flagAsField, withErrorContext } from '../core/errors.js';
import { readYamlFile } from '../core/yaml-config.js';
import { registerConfigExpander, resolveExperiment, runExperiment, safeParseExperiment } from '../sweep/experiment.js';
import { experimentKind, experimentKinds, registerExperiment, type ExperimentResult } from './registry.js';

/**
 * `kind: suite` — sub-experiments run in order, each an experiment config with its own `kind`
 * (inline, or a path to an experiment file, inlined at load so config.resolved.yaml stands alone).
 * Rows are tagged with the sub-experiment's name in an `experiment` column; each sub-experiment
 * writes its files under OUT/<name>/. The quickstart is a suite.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

const suiteBase = z
  .object({
    kind: z.literal('suite'),
    description: z.string().optional(),
    experiments: z
      .array(
        z
          .object({
            name: z.string().regex(NAME, 'expected letters, digits, _ or - (it names an output folder)'),
            description: z.string().optional(),
            experiment: z.record(z.string(), z.unknown()),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export const suiteSchema = suiteBase
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.experiments.forEach((sub, i) => {
      if (seen.has(sub.name)) ctx.addIssue({ code: 'custom', path: ['experiments', i, 'name'], message: `expected a unique name, "${sub.name}" appears twice`, input: sub.name });
      seen.add(sub.name);
      const kindName = sub.experiment.kind;
      const kind = typeof kindName === 'string' ? experimentKind(kindName) : undefined;
      if (!kind) {
        ctx.addIssue({ code: 'custom', path: ['experiments', i, 'experiment', 'kind'], message: `expected one of ${experimentKinds().join(', ')}`, input: kindName });
        return;
      }
      const result = safeParseExperiment(kind, sub.experiment);
      if (!result.success) {
        const issue = result.error.issues[0]!;
        ctx.addIssue({ ...(issue as object), path: ['experiments', i, 'experiment', ...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
      }
    });
  })
  .transform((cfg) => ({
    ...cfg,
    experiments: cfg.experiments.map((sub) => {
      const parsed = safeParseExperiment(experimentKind(sub.experiment.kind as string)!, sub.experiment);
      return { ...sub, experiment: (parsed.success ? parsed.data : sub.experiment) as Record<string, unknown> };
    }),
  }));

/** Inlines `experiment: path.yaml` references (relative to the suite file) before validation. */
registerConfigExpander('suite', (raw, baseDir, file) => {
  if (!Array.isArray(raw.experiments)) return raw;
  const experiments = raw.experiments.map((sub: unknown, i: number) => {
    if (!sub || typeof sub !== 'object' || typeof (sub as { experiment?: unknown }).experiment !== 'string') return sub;
    const ref = (sub as { experiment: string }).experiment;
    const path = isAbsolute(ref) ? ref : join(baseDir, ref);
    const tree = readYamlFile(path);
    if (!tree || typeof tree !== 'object' || Array.isArray(tree)) {
      throw new SilicaError(`${file}: experiments.${i}.experiment: expected an experiment file with a kind field, ${path} holds ${describe(tree)}`);
    }
    return { ...(sub as object), experiment: tree };
  });
  return { ...raw, experiments };
});

/**
 * A sub-experiment's message as the suite file's: a field of the sub-experiment (`baseline.seq: ...`)
 * is the suite's `experiments.0.experiment.baseline.seq`; anything else (a hardware file's own
 * message) follows the sub-experiment's path.
 */
function inSubExperiment(at: string, message: string): string {
  return /^[a-z_][a-z0-9_]*(?:\.[\w-]+)*: /.test(message) ? `${at}.${message}` : `${at}: ${message}`;
}

registerExperiment({
  name: 'suite',
  description: 'sub-experiments run in order, each with its own kind; rows tagged with the sub-experiment name',
  schema: suiteSchema,
  // Each sub-experiment's own checks, so that a bad one fails before the first runs (and a sweep
  // refuses the point), named by its path in the suite file.
  check(config, ctx) {
    config.experiments.forEach((sub, i) => {
      try {
        experimentKind(sub.experiment.kind as string)!.check?.(sub.experiment, ctx);
      } catch (err) {
        if (err instanceof SilicaError) throw new SilicaError(inSubExperiment(`experiments.${i}.experiment`, err.message), err.where);
        throw err;
      }
    });
  },
  async run(config, ctx) {
    const rows: ExperimentResult['rows'] = [];
    const summary: Record<string, unknown> = {};
    const files: string[] = [];
    const n = config.experiments.length;
    for (const [i, sub] of config.experiments.entries()) {
      const exp = resolveExperiment(sub.experiment, `suite experiment ${sub.name}`, ctx.baseDir ?? '.', `experiments.${i}.experiment`);
      ctx.progress?.(i / n, sub.name);
      // A run shares its models with the CLI, whose messages name flags: here they are the sub-experiment's fields.
      const result = await withErrorContext(
        `experiments.${i}.experiment (${sub.name})`,
        () =>
          runExperiment(exp, {
            outDir: ctx.outDir ? join(ctx.outDir, sub.name) : undefined,
            progress: ctx.progress ? (f, label) => ctx.progress!((i + f) / n, `${sub.name}: ${label}`) : undefined,
            lanes: ctx.lanes,
            jobs: ctx.jobs,
          }),
        (m) => flagAsField(m),
      );
      for (const row of result.rows) rows.push({ experiment: sub.name, ...row });
      summary[sub.name] = result.summary ?? { rows: result.rows.length };
      for (const f of result.files ?? []) files.push(`${sub.name}/${f}`);
    }
    ctx.progress?.(1, 'done');
    return { rows, summary, files };
  },
});
