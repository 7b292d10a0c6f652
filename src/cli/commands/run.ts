import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { SilicaError, flagAsField, withErrorContext } from '../../core/errors.js';
import { experimentKinds } from '../../study/index.js';
import { checkOutputPath, OutputSet } from '../../core/io.js';
import { withPinnedFiles } from '../../core/pinned-files.js';
import { loadExperimentFile, runExperiment } from '../../sweep/experiment.js';
import { inputPins } from '../../sweep/inputs.js';
import { readEarlierFiles, removeEarlierFiles, RESULT_FILES, writeExperimentOutputs, type ExperimentOutputs } from '../../sweep/outputs.js';
import { makeProgress } from '../../sweep/progress.js';
import { isSweepDir } from '../../sweep/store.js';
import { countOf, parsePositiveInt } from '../../core/units.js';
import { checkJobs, numberFlag, printJson } from '../common.js';

/**
 * `silica run FILE.yaml --out DIR`: one experiment, its tables and figures in DIR. What `npm start`
 * runs on configs/experiments/quickstart.yaml.
 */
export const runCommand: CommandModule = {
  command: 'run <file>',
  describe: `run an experiment YAML (kind: ${experimentKinds().join(' | ')}) and write its tables and figures to --out`,
  builder: (y) =>
    y
      .positional('file', { type: 'string', describe: 'experiment YAML (configs/experiments/*.yaml)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('set', { type: 'string', array: true, describe: 'override a field of the experiment, e.g. --set hw=h100-sxm (repeatable)' })
      .option('jobs', numberFlag('parallel lanes for the experiments that run their cases in parallel (t3, serve; over a jobs: in the file; default: the cores, at most 4)'))
      .option('json', { type: 'boolean', default: false, describe: 'print where the outputs are as JSON' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress output (a bar on a terminal, periodic lines otherwise)' }),
  handler: async (argv) => {
    const args = argv as unknown as { file: string; out: string; set?: string[]; jobs?: string; json: boolean; quiet: boolean };
    const jobs = args.jobs === undefined ? undefined : checkJobs(parsePositiveInt(args.jobs, '--jobs'));
    const exp = loadExperimentFile(args.file, args.set ?? []);
    // A bad --out fails at once; the folder comes with the first file. A failed run takes back
    // everything it wrote there, figures included, and the folder if it made it.
    // A sweep's folder keeps a ledger (points.jsonl) that --resume and merge read beside the tables:
    // a run's tables there would be taken for the sweep's.
    if (isSweepDir(args.out)) throw new SilicaError(`--out ${args.out}: holds a sweep's outputs (points.jsonl); a run writes to a folder of its own`);
    const outputs = new OutputSet();
    outputs.directory(args.out, '--out');
    for (const name of RESULT_FILES) checkOutputPath(join(args.out, name), '--out');
    const earlierFiles = readEarlierFiles(args.out);
    const { result, out } = await outputs.run(async () => {
      const progress = makeProgress({ total: 100, unit: '%', quiet: args.quiet });
      // One version of each input file for every case, on every lane (src/core/pinned-files.ts).
      const result = await withPinnedFiles(inputPins(exp.config, exp.baseDir), () =>
        withErrorContext(args.file, () => runExperiment(exp, { outDir: args.out, jobs, progress: (f, label) => progress.update(Math.round(f * 100), label) }), flagAsField),
      );
      progress.stop();
      const out = writeExperimentOutputs(args.out, {
        source: args.file,
        kind: exp.kind.name,
        config: exp.config,
        rows: result.rows,
        summary: result.summary,
        files: result.files,
        baseDir: exp.baseDir,
      });
      return { result, out };
    });
    removeEarlierFiles(args.out, earlierFiles, result.files ?? []);
    if (args.json) printJson({ kind: exp.kind.name, rows: result.rows.length, ...out, figures: out.files.filter((f) => f.endsWith('.svg')) });
    else printOutputs(`silica run: ${args.file} (${exp.kind.name})`, out, result.rows.length);
  },
};

export function printOutputs(title: string, out: ExperimentOutputs, rows: number): void {
  const figures = out.files.filter((f) => f.endsWith('.svg'));
  const others = out.files.filter((f) => !f.endsWith('.svg'));
  const lines = [
    `${title} -> ${out.dir}`,
    `  tables:  ${out.tables[0]} (${countOf(rows, 'row')}), ${out.tables.slice(1).join(', ')}`,
    `  summary: ${out.summary}`,
    `  config:  ${out.config}`,
    ...listed('figures:', figures),
    ...listed('files:', others),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** `  label  path`, then each further path on a line of its own under the first: a suite writes a dozen. */
function listed(label: string, paths: readonly string[]): string[] {
  return paths.map((path, i) => `  ${(i === 0 ? label : '').padEnd('summary:'.length)} ${path}`);
}
