import { availableParallelism } from 'node:os';
import type { Argv } from 'yargs';
import { SilicaError } from '../core/errors.js';
import { loadHardware } from '../hw/config/load.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { roundTree } from '../core/io.js';
import { loadTrace, type LoadedTrace } from '../trace/load.js';

/**
 * A numeric flag's yargs options. yargs reads the value as text, and the command checks it
 * (parsePositiveInt, flagNumber): yargs' own number type turns "8x" into NaN, so the error could
 * then only say "got NaN". The flag is declared a number as well, so that the help labels it
 * [number] rather than [string]: yargs-parser keeps a flag declared as both a string, and yargs'
 * help prints the number label (test/cli/help.test.ts pins both).
 */
export function numberFlag(describe: string, more: { default?: number; demandOption?: boolean } = {}) {
  return { string: true, number: true, describe, ...more } as const;
}

/** A numeric flag's value as a command receives it: the text as typed, or its default (a number). */
export type NumberArg = string | number;

/**
 * Numeric flags as yargs hands them over: read as strings, because yargs' own `number` type turns
 * "abc" into NaN and the error could then only say "got NaN"; flagNumber converts and checks them.
 * A default arrives as a number.
 */
export type NumberFlag = string | number | Array<string | number> | undefined;

/** A numeric flag's value, or a one-line error that echoes what was typed. */
export function flagNumber(flag: string, raw: NumberFlag): number | undefined {
  if (raw === undefined || typeof raw === 'number') return raw;
  if (Array.isArray(raw)) throw new SilicaError(`--${flag}: expected one value, got ${raw.length} (${raw.join(', ')})`);
  // Number('') and Number(' ') are 0: a flag given without a value is not zero.
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw new SilicaError(`--${flag}: expected a finite number, got ${JSON.stringify(raw)}`);
  return n;
}

/** A positive numeric flag's value (undefined when not given), or a one-line error that echoes what was typed. */
export function positiveFlagNumber(flag: string, raw: NumberFlag): number | undefined {
  const n = flagNumber(flag, raw);
  if (n !== undefined && !(n > 0)) throw new SilicaError(`--${flag}: expected a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** --recompute and --selective-recompute as the training builder takes them (both: refused). */
export function recomputeFlag(a: { recompute: boolean; selectiveRecompute: boolean }): boolean | 'selective' {
  if (a.recompute && a.selectiveRecompute) throw new SilicaError('--selective-recompute: not with --recompute (full recomputation already redoes core attention)');
  return a.selectiveRecompute ? 'selective' : a.recompute;
}

/** Options every hardware-using command shares. */
export interface HwArgs {
  hw: string;
  set?: string[];
  json?: boolean;
}

export function withHwOptions<T>(y: Argv<T>, defaultHw = 'mi300x') {
  return y
    .option('hw', { type: 'string', default: defaultHw, describe: 'hardware preset name (silica hw list) or path to a YAML file' })
    .option('set', { type: 'string', array: true, describe: 'override a config field, e.g. --set memory.hbm.efficiency=0.8 (repeatable)' })
    .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' });
}

export function hardwareFrom(args: HwArgs): HardwareConfig {
  return loadHardware(args.hw, args.set ?? []);
}

/** Options every trace-reading command (inspect, replay) shares. */
export interface TraceInputArgs {
  file: string;
  commGroups?: string;
  chakraCtrlDeps: boolean;
}

export function withTraceInput<T>(y: Argv<T>) {
  return y
    .positional('file', { type: 'string', describe: "silica trace ('-' = stdin) or Chakra ET (prefix or any rank's .et)" })
    .option('comm-groups', { type: 'string', describe: 'Chakra: comm_group.json resolving pg_name (default: found beside the trace)' })
    .option('chakra-ctrl-deps', { type: 'boolean', default: false, describe: 'Chakra: enforce ctrl_deps as well as data_deps' });
}

export function traceFrom(args: TraceInputArgs): LoadedTrace {
  // yargs hands a lone '-' positional over as '': that is stdin.
  const loaded = loadTrace(args.file === '' ? '-' : args.file, { commGroupsFile: args.commGroups, ctrlDeps: args.chakraCtrlDeps });
  // A silica trace carries its groups in its nodes: the Chakra-only flags would be ignored.
  if (loaded.format !== 'chakra') {
    if (args.commGroups !== undefined) throw new SilicaError(`--comm-groups: only with a Chakra ET, and ${loaded.source} is a ${loaded.format} trace`);
    if (args.chakraCtrlDeps) throw new SilicaError(`--chakra-ctrl-deps: only with a Chakra ET, and ${loaded.source} is a ${loaded.format} trace`);
  }
  return loaded;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(roundTree(value), null, 2) + '\n');
}

/**
 * A number as a table shows it: integers whole, others to five significant digits, but never in
 * exponent form where the integer part alone has more digits (333450.3 us, not 3.3345e+5 beside
 * a whole 288288 in the same table).
 */
function formatReading(v: number): string {
  if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e5 ? v.toFixed(1) : v.toPrecision(5);
}

/** Prints `key: value` lines aligned, for the human-readable form of a result. */
export function printTable(rows: Array<[string, string | number]>): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) {
    const text = typeof v === 'number' ? formatReading(v) : v;
    process.stdout.write(`${k.padEnd(width)}  ${text}\n`);
  }
}

const MAX_JOBS_PER_CPU = 4;

/**
 * A --jobs count within reason: every lane beyond one is a thread with a V8 heap of its own, so more
 * than a few per CPU only oversubscribes the cores and, by the thousand, exhausts memory.
 */
export function checkJobs(jobs: number): number {
  const maxJobs = MAX_JOBS_PER_CPU * availableParallelism();
  if (jobs > maxJobs) throw new SilicaError(`--jobs: expected at most ${maxJobs} (${MAX_JOBS_PER_CPU} per CPU of this machine's ${availableParallelism()}), got ${jobs}`);
  return jobs;
}
