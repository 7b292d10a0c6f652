import { chmodSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import '../../study/index.js';
import { SilicaError } from '../../core/errors.js';
import { maxOf } from '../../core/extent.js';
import { batchedWrites, checkOutputPath, makeDirectory, OutputSet, removeDirectories } from '../../core/io.js';
import { countOf, parsePositiveInt } from '../../core/units.js';
import { runSweep, startSweepPool } from '../../sweep/run-sweep.js';
import { shellQuote, slurmScript } from '../../sweep/slurm.js';
import { loadSweep, parseShard, shardPoints } from '../../sweep/spec.js';
import { formatSeconds, makeProgress, type Progress } from '../../sweep/progress.js';
import { checkJobs, numberFlag, printJson } from '../common.js';
import { printOutputs } from './run.js';

/**
 * `silica sweep FILE`: expand a sweep file into points and run them (in parallel, resumable,
 * sharded), list them (--dry-run) or write a Slurm job array that runs the shards (--emit-slurm).
 */
interface SweepArgs {
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

/** Sweeps of fewer points expand in a few seconds at most: no progress shown. */
const EXPANSION_PROGRESS_FROM = 100_000;

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
    // Workers load their modules while this thread expands and validates the sweep.
    const early = args.out && !args.dryRun && !args.emitSlurm ? startSweepPool(jobs) : undefined;
    let spec;
    // A sweep of many points takes a while to expand and check: shown like the run's own progress.
    let expanding: Progress | undefined;
    try {
      spec = loadSweep(args.file, {
        // The Slurm script is the same for every shard; anything else needs only its shard's points.
        shard: args.emitSlurm ? undefined : shard,
        onProgress: (expanded, total) => {
          if (args.quiet || total < EXPANSION_PROGRESS_FROM) return;
          expanding ??= makeProgress({ total, unit: 'points expanded' });
          expanding.update(expanded);
        },
      });
    } catch (err) {
      await early?.close();
      throw err;
    } finally {
      expanding?.stop();
    }

    if (args.dryRun) {
      const points = shardPoints(spec.points, shard);
      if (args.json) {
        printJson({ sweep: spec.name, points_total: spec.total, expanded: spec.expanded, ...(spec.sample ? { sample: spec.sample, sampled_from: spec.sampledFrom } : {}), points: points.map((p) => ({ point: p.index, point_id: p.id, ...p.tags })) });
        return;
      }
      const kept = spec.sampledFrom ?? spec.total;
      const filtered = spec.expanded - kept;
      const how = [spec.sample ? `sampled from ${kept}, seed ${spec.sample.seed}` : '', filtered ? `${filtered} filtered out of ${spec.expanded}` : ''].filter(Boolean).join('; ');
      process.stdout.write(`sweep ${spec.name}: ${countOf(spec.total, 'point')}${how ? ` (${how})` : ''}${shard ? `, shard ${args.shard}: ${points.length}` : ''}\n`);
      const cols = ['point', 'point_id', ...Object.keys(points[0]?.tags ?? {})];
      const table = points.map((p) => [String(p.index), p.id, ...Object.values(p.tags).map(String)]);
      const widths = cols.map((c, i) => Math.max(c.length, maxOf(table.map((r) => r[i]!.length))));
      const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
      const out = batchedWrites((text) => process.stdout.write(text));
      for (const r of [cols, ...table]) out.add(line(r));
      out.end();
      return;
    }

    if (!args.out) throw new SilicaError('--out: expected an output directory (or --dry-run to list the points)');
    if (args.emitSlurm) {
      if (shard) throw new SilicaError('--emit-slurm: the script runs every shard; give --shards N, not --shard');
      const shards = parsePositiveInt(args.shards ?? '4', '--shards');
      const path = join(args.out, 'sweep.sbatch');
      checkOutputPath(path, '--out');
      const maxParallel = args.maxParallel !== undefined ? parsePositiveInt(args.maxParallel, '--max-parallel') : undefined;
      const script = slurmScript({ sweepFile: args.file, name: spec.name, out: args.out, shards, jobsPerTask: args.jobs !== undefined ? jobs : 1, partition: args.partition, timeLimit: args.time, maxParallel });
      const outputs = new OutputSet();
      outputs.directory(args.out, '--out');
      outputs.run(() => {
        outputs.write(path, script, '--out');
        chmodSync(path, 0o755);
      });
      // Commands to paste into a shell: the folder quoted where it needs to be, the glob left to the shell.
      const submit = `sbatch ${shellQuote(path)}`;
      const merge = `silica merge ${shellQuote(args.out)}/shard-* --out ${shellQuote(args.out)}/merged`;
      if (args.json) printJson({ script: path, shards, points_total: spec.total, submit, merge });
      else {
        process.stdout.write(`silica sweep: wrote ${path}: a Slurm job array of ${countOf(shards, 'task')} over ${countOf(spec.total, 'point')}\n`);
        process.stdout.write(`  submit:  ${submit}\n  merge:   ${merge}\n`);
      }
      return;
    }

    // Made here, one level at a time (the sweep's own recursive mkdir spins where mkdir fails with
    // ENOENT, under /proc). A sweep that fails later keeps its folder if it finished a point:
    // --resume continues it; one that finished none leaves no folder it made (runSweep empties it).
    let created: string[];
    try {
      created = makeDirectory(args.out, `--out ${args.out}`);
    } catch (err) {
      await early?.close();
      throw err;
    }
    let r;
    try {
      r = await runSweep(spec, { out: args.out, jobs, resume: args.resume, shard, quiet: args.quiet, pool: early });
    } catch (err) {
      removeDirectories(created);
      throw err;
    }
    if (args.json) {
      printJson({ out: r.dir, points: r.selected, points_total: spec.total, ran: r.ran, skipped: r.skipped, rows: r.summary.rows, shard: args.shard ?? null, seconds: r.seconds });
      return;
    }
    const what = `${countOf(r.selected, 'point')}${shard ? ` (shard ${args.shard} of ${spec.total})` : ''}, ran ${r.ran}${r.skipped ? `, ${r.skipped} already done` : ''} on ${countOf(jobs, 'job')} in ${formatSeconds(r.seconds)}`;
    printOutputs(`silica sweep: ${spec.name}: ${what}`, { dir: r.dir, tables: [join(r.dir, 'results.csv'), join(r.dir, 'results.jsonl')], summary: join(r.dir, 'summary.json'), config: join(r.dir, 'config.resolved.yaml'), files: [] }, r.summary.rows);
    process.stdout.write(`  plot:    silica plot ${join(r.dir, 'results.csv')} --x COL --y COL --out FIG.svg\n`);
  },
};
