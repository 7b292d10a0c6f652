import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { OutputSet } from '../../core/io.js';
import { countOf } from '../../core/units.js';
import { mergeSweepDirs } from '../../sweep/merge.js';
import { isRunDir } from '../../sweep/outputs.js';
import { printJson } from '../common.js';
import { printOutputs } from './run.js';

/** `silica merge DIR... --out DIR`: shard outputs of one sweep into one folder. */
export const mergeCommand: CommandModule = {
  command: 'merge [dirs..]',
  describe: 'merge the output folders of sweep shards into one (results sorted by point)',
  builder: (y) =>
    y
      .positional('dirs', { type: 'string', array: true, describe: 'sweep output folders (e.g. OUT/shard-*)' })
      .option('out', { type: 'string', demandOption: true, describe: 'merged output folder' })
      .option('json', { type: 'boolean', default: false, describe: 'print the merge report as JSON' }),
  handler: (argv) => {
    const args = argv as unknown as { dirs?: string[]; out: string; json: boolean };
    // Checked here rather than by yargs, whose own message ("Not enough non-option arguments") names no folder.
    if (!args.dirs?.length) throw new SilicaError('merge: expected one or more sweep output folders to merge, e.g. silica merge OUT/shard-* --out OUT/merged');
    // A bad --out fails before the inputs are read; the folder, made for the first file, is taken
    // back with what was written in it if the merge fails.
    if (isRunDir(args.out)) throw new SilicaError(`--out ${args.out}: holds a run's outputs (config.resolved.yaml of silica run); a merge writes to a folder of its own`);
    const outputs = new OutputSet();
    outputs.directory(args.out, '--out');
    const dirs = args.dirs;
    const r = outputs.run(() => mergeSweepDirs(dirs, args.out));
    if (r.missing > 0) process.stderr.write(`silica merge: note: ${r.missing} of ${r.summary.points_total} points are missing from the inputs (unfinished shards?)\n`);
    if (args.json) {
      printJson({ out: r.dir, inputs: r.inputs, points: r.points, points_total: r.summary.points_total, missing: r.missing, rows: r.summary.rows });
      return;
    }
    printOutputs(
      `silica merge: ${countOf(r.inputs, 'folder')}, ${r.points}/${countOf(r.summary.points_total, 'point')}`,
      { dir: r.dir, tables: [`${r.dir}/results.csv`, `${r.dir}/results.jsonl`], summary: `${r.dir}/summary.json`, config: `${r.dir}/config.resolved.yaml`, files: [] },
      r.summary.rows,
    );
  },
};
