import type { Argv } from 'yargs';
import { loadHardware } from '../hw/config/load.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { roundTree } from '../core/io.js';

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

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(roundTree(value), null, 2) + '\n');
}

/** Prints `key: value` lines aligned, for the human-readable form of a result. */
export function printTable(rows: Array<[string, string | number]>): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) {
    const text = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : v;
    process.stdout.write(`${k.padEnd(width)}  ${text}\n`);
  }
}
