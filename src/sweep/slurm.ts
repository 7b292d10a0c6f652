import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SilicaError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';

/**
 * `silica sweep FILE --emit-slurm --shards N --out DIR` writes an sbatch script for a Slurm job
 * array: task i runs `silica sweep FILE --shard i/N --out DIR/shard-i --resume` (so a requeued
 * or preempted task continues where it stopped), then `silica merge DIR/shard-* --out DIR/merged`
 * combines them. Paths are absolute: array tasks start in the submitter's working directory only
 * if the cluster's file system is shared, which it must be for the outputs anyway.
 */
export interface SlurmOptions {
  sweepFile: string;
  name: string;
  out: string;
  shards: number;
  jobsPerTask: number;
  partition?: string;
  timeLimit?: string;
  /** Max concurrently running tasks (`--array=0-N%K`). */
  maxParallel?: number;
}

/** `s` as one word of a POSIX shell command line. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The installed CLI the array tasks run: the bundle `npm run build` makes, else the compiled entry. */
export function cliPath(): string {
  const bundled = join(packageRoot(), 'dist', 'bundle', 'main.js');
  return existsSync(bundled) ? bundled : fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

/**
 * Slurm's time-limit forms (sbatch(1) --time): minutes, minutes:seconds, hours:minutes:seconds,
 * days-hours, days-hours:minutes, days-hours:minutes:seconds, or UNLIMITED / INFINITE.
 */
const SLURM_TIME = /^(?:\d+(?::\d{1,2}){0,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|unlimited|infinite)$/i;
/** Partition names as sinfo lists them; a comma separates several. */
const SLURM_PARTITION = /^[A-Za-z0-9_.-]+(?:,[A-Za-z0-9_.-]+)*$/;

/** The sbatch directives take the text as given: what sbatch would reject fails here, at the source. */
function checkSlurmOptions(o: SlurmOptions): void {
  if (o.timeLimit !== undefined && !SLURM_TIME.test(o.timeLimit)) {
    throw new SilicaError(`--time: expected a Slurm time limit such as 30, 2:00:00 or 1-12:00:00, got ${JSON.stringify(o.timeLimit)}`);
  }
  if (o.partition !== undefined && !SLURM_PARTITION.test(o.partition)) {
    throw new SilicaError(`--partition: expected a partition name (letters, digits, _ . -; several separated by commas), got ${JSON.stringify(o.partition)}`);
  }
}

/**
 * The tasks' log files as an #SBATCH filename pattern: no shell reads these lines, so sbatch sees the text as
 * written. A `%` would start a pattern (%A, %j, ...) and is doubled; a path with blanks is double
 * quoted, as sbatch's own line parser allows. A double quote or a line break cannot be written.
 */
function sbatchLogPattern(out: string): string {
  if (/["\n\r]/.test(out)) throw new SilicaError(`--out: expected a folder whose path an #SBATCH line can hold (no double quote or line break), got ${JSON.stringify(out)}`);
  const pattern = `${out.replace(/%/g, '%%')}/slurm-%A_%a.log`;
  return /\s/.test(pattern) ? `"${pattern}"` : pattern;
}

export function slurmScript(o: SlurmOptions): string {
  checkSlurmOptions(o);
  const out = resolve(o.out);
  const sweep = resolve(o.sweepFile);
  const cli = cliPath();
  const array = `0-${o.shards - 1}${o.maxParallel ? `%${o.maxParallel}` : ''}`;
  const lines = [
    '#!/bin/bash',
    `# Slurm job array for sweep ${o.name}: ${o.shards} tasks, task i runs shard i/${o.shards}.`,
    `#   submit:  sbatch ${shellQuote(resolve(out, 'sweep.sbatch'))}`,
    `#   merge:   silica merge ${shellQuote(out)}/shard-* --out ${shellQuote(out)}/merged`,
    `#SBATCH --job-name=silica-${o.name}`,
    `#SBATCH --array=${array}`,
    '#SBATCH --nodes=1',
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${o.jobsPerTask}`,
    `#SBATCH --output=${sbatchLogPattern(out)}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.timeLimit ? [`#SBATCH --time=${o.timeLimit}`] : []),
    'set -euo pipefail',
    `NODE=\${SILICA_NODE:-${shellQuote(process.execPath)}}`,
    `SHARD=\${SLURM_ARRAY_TASK_ID:?run this script with sbatch (it is a job array)}`,
    `exec "$NODE" ${shellQuote(cli)} sweep ${shellQuote(sweep)} \\`,
    `  --shard "$SHARD/${o.shards}" --out ${shellQuote(out)}/shard-"$SHARD" --jobs "\${SLURM_CPUS_PER_TASK:-${o.jobsPerTask}}" --resume`,
    '',
  ];
  return lines.join('\n');
}
