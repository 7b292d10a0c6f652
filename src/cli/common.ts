import type { Argv } from 'yargs';
import { SilicaError } from '../core/errors.js';
import { loadHardware } from '../hw/config/load.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { roundTree } from '../core/io.js';
import { loadTrace, type LoadedTrace } from '../trace/load.js';

// The flag helpers live where a command can import them without loading the simulator (flags.ts).
export { checkJobs, flagNumber, numberFlag, positiveFlagNumber, type NumberArg, type NumberFlag } from './flags.js';

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
