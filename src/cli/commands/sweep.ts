import { availableParallelism } from 'node:os';
import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { checkOutputPath } from '../../core/io.js';
import { parsePositiveInt } from '../../core/units.js';
import { parseShard } from '../../sweep/shard.js';
import { startSweepPool } from '../../sweep/sweep-lanes.js';
import { checkJobs, numberFlag } from '../flags.js';

/**
 * `silica sweep FILE`: expand a sweep file into points and run them (in parallel, resumable,
 * sharded), list them (--dry-run) or write a Slurm job array that runs the shards (--emit-slurm).
 */
export interface SweepArgs {
  file: string;
  out?: string;
  jobs?: string;
  resume: boolean;
  shard?: string;
  dryRun: boolean;
  emitSlurm: boolean;
  shards?: string;
  partition?: string;
  time?: string;
  maxParallel?: string;
  json: boolean;
  quiet: boolean;
}

export const sweepCommand: CommandModule = {
  command: 'sweep <file>',
  describe: 'run a sweep (configs/sweeps/*.yaml): points in parallel, resumable, shardable',
  builder: (y) =>
    y
      .positional('file', { type: 'string', describe: 'sweep YAML' })
      .option('out', { type: 'string', describe: 'output directory (results.csv, results.jsonl, points.jsonl, summary.json, config.resolved.yaml)' })
      .option('jobs', numberFlag(`points run at once: this thread plus N-1 worker threads (default: the CPUs, ${availableParallelism()})`))
      .option('resume', { type: 'boolean', default: false, describe: 'keep the points already complete in --out and run the rest' })
      .option('shard', { type: 'string', describe: 'run only shard i of N (0-based "i/N"): points whose index is i mod N' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'list the points and exit' })
      .option('emit-slurm', { type: 'boolean', default: false, describe: 'write OUT/sweep.sbatch, a Slurm job array running the shards' })
      .option('shards', numberFlag('with --emit-slurm: number of array tasks (default 4)'))
      .option('partition', { type: 'string', describe: 'with --emit-slurm: Slurm partition' })
      .option('time', { type: 'string', describe: 'with --emit-slurm: Slurm time limit per task, e.g. 01:00:00' })
      .option('max-parallel', numberFlag('with --emit-slurm: most array tasks running at once'))
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress output (a bar on a terminal, periodic lines otherwise)' })
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' }),
  handler: async (argv) => {
    const args = argv as unknown as SweepArgs;
    const shard = args.shard !== undefined ? parseShard(args.shard) : undefined;
    // The Slurm script's settings, given without the script, would be silently ignored.
    if (!args.emitSlurm) {
      const slurmOnly = ([['--shards', args.shards], ['--partition', args.partition], ['--time', args.time], ['--max-parallel', args.maxParallel]] as const).find(([, v]) => v !== undefined);
      if (slurmOnly) throw new SilicaError(`${slurmOnly[0]}: only with --emit-slurm (it sets the Slurm job array the script runs)${slurmOnly[0] === '--shards' ? '; --shard i/N runs one shard' : ''}`);
    }
    // Checked before the workers start (they start before the sweep is read).
    const jobs = args.jobs !== undefined ? checkJobs(parsePositiveInt(args.jobs, '--jobs')) : availableParallelism();
    if (args.out !== undefined && !args.dryRun) checkOutputPath(args.out, '--out', 'directory');
    // The workers start first, and only then does this thread load the simulator (studies, sweep
    // expansion, the run: ./sweep-handler.ts): both threads load their modules at the same time.
    const lanes = args.out && !args.dryRun && !args.emitSlurm ? startSweepPool(jobs) : undefined;
    let sweep;
    try {
      ({ sweep } = await import('./sweep-handler.js'));
    } catch (err) {
      await lanes?.close();
      throw err;
    }
    await sweep(args, { jobs, shard, lanes });
  },
};
