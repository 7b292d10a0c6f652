import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import '../../study/index.js';
import { SilicaError } from '../../core/errors.js';
import { maxOf } from '../../core/extent.js';
import { batchedWrites, checkOutputPath, makeDirectory, OutputSet, removeDirectories } from '../../core/io.js';
import { countOf, parsePositiveInt } from '../../core/units.js';
import { isRunDir } from '../../sweep/outputs.js';
import { runSweep } from '../../sweep/run-sweep.js';
import { shardPoints } from '../../sweep/shard.js';
import { shellQuote, slurmScript } from '../../sweep/slurm.js';
import { loadSweep } from '../../sweep/spec.js';
import type { SweepPool } from '../../sweep/sweep-lanes.js';
import { formatSeconds, makeProgress, type Progress } from '../../sweep/progress.js';
import { printJson } from '../common.js';
import { printOutputs } from './run.js';
import type { SweepArgs } from './sweep.js';

/** Sweeps of fewer points expand in a few seconds at most: no progress shown. */
const EXPANSION_PROGRESS_FROM = 100_000;

/**
 * What `silica sweep` does once its flags are checked and its worker threads started (./sweep.ts):
 * load and expand the sweep, then list its points, write its Slurm script or run it on `lanes`
 * (closed here, whatever happens).
 */
export async function sweep(args: SweepArgs, { jobs, shard, lanes }: { jobs: number; shard?: { index: number; count: number }; lanes?: SweepPool }): Promise<void> {
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
    await lanes?.close();
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
  if (isRunDir(args.out)) throw new SilicaError(`--out ${args.out}: holds a run's outputs (config.resolved.yaml of silica run); a sweep writes to a folder of its own`);
  if (args.emitSlurm) {
    if (shard) throw new SilicaError('--emit-slurm: the script runs every shard; give --shards N, not --shard');
    const shards = parsePositiveInt(args.shards ?? '4', '--shards');
    // Tasks past the points' count run no point: harmless, but each still queues and starts a node.
    if (shards > spec.total) process.stderr.write(`silica sweep: note: --shards ${shards} over ${countOf(spec.total, 'point')}: ${countOf(shards - spec.total, 'task')} will have no point to run; --shards ${spec.total} gives each task one\n`);
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
    await lanes?.close();
    throw err;
  }
  // Ctrl-C, or a scheduler's SIGTERM (scancel, a pod's eviction): every finished point is already
  // on disk whole (store.ts), so the way on is --resume; say so rather than vanish without a word.
  const out = args.out;
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nsilica sweep: stopped by ${signal}; the points finished so far are kept in ${out}: run the same command with --resume to finish\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let r;
  try {
    r = await runSweep(spec, { out: args.out, jobs, resume: args.resume, shard, quiet: args.quiet, pool: lanes });
  } catch (err) {
    removeDirectories(created);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (args.json) {
    printJson({ out: r.dir, points: r.selected, points_total: spec.total, ran: r.ran, skipped: r.skipped, rows: r.summary.rows, shard: args.shard ?? null, seconds: r.seconds });
    return;
  }
  const what = `${countOf(r.selected, 'point')}${shard ? ` (shard ${args.shard} of ${spec.total})` : ''}, ran ${r.ran}${r.skipped ? `, ${r.skipped} already done` : ''} on ${countOf(jobs, 'job')} in ${formatSeconds(r.seconds)}`;
  printOutputs(`silica sweep: ${spec.name}: ${what}`, { dir: r.dir, tables: [join(r.dir, 'results.csv'), join(r.dir, 'results.jsonl')], summary: join(r.dir, 'summary.json'), config: join(r.dir, 'config.resolved.yaml'), files: [] }, r.summary.rows);
  process.stdout.write(`  plot:    silica plot ${join(r.dir, 'results.csv')} --x COL --y COL --out FIG.svg\n`);
}
