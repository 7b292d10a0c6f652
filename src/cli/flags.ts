import { availableParallelism } from 'node:os';
import { flagName, SilicaError } from '../core/errors.js';

/**
 * Flag helpers every command shares, in a module that imports nothing heavy: `silica sweep` checks
 * its flags and starts its worker threads before it loads the simulator (commands/sweep.ts).
 */

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
  if (Array.isArray(raw)) throw new SilicaError(`${flagName(flag)}: expected one value, got ${raw.length} (${raw.join(', ')})`);
  // Number('') and Number(' ') are 0: a flag given without a value is not zero.
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw new SilicaError(`${flagName(flag)}: expected a finite number, got ${JSON.stringify(raw)}`);
  return n;
}

/** A positive numeric flag's value (undefined when not given), or a one-line error that echoes what was typed. */
export function positiveFlagNumber(flag: string, raw: NumberFlag): number | undefined {
  const n = flagNumber(flag, raw);
  if (n !== undefined && !(n > 0)) throw new SilicaError(`${flagName(flag)}: expected a positive number, got ${JSON.stringify(raw)}`);
  return n;
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
