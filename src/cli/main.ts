#!/usr/bin/env node
// First: V8's settings apply to what runs after them.
import './v8-flags.js';
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { flagName, SilicaError, oneLine } from '../core/errors.js';
import { commandsFor } from './commands/index.js';

/**
 * The CLI edge: parse flags, run a command, and turn any SilicaError into one line on stderr with
 * a non-zero exit. Unexpected errors are bugs: they also print one line, plus a hint to report.
 */
export async function main(argv: string[]): Promise<number> {
  let failed = false;
  argv = dashValuesJoined(argv);
  const parser = yargs(argv)
    .scriptName('silica')
    .usage('$0 <command> [options]\n\nCycle-approximate simulator of GPU nodes running transformer workloads.')
    .strict()
    .demandCommand(1, 'expected a command (see silica --help)')
    .recommendCommands()
    .fail((msg, err) => {
      failed = true;
      const error = err ?? new SilicaError(yargsInOurWords(msg ?? 'invalid arguments', argv));
      reportError(error);
      // Rethrown, or yargs goes on to run the command after a bad flag (output and all).
      throw error;
    })
    // yargs hands middleware the instance that parsed the command, with that command's options
    // (its types declare only the first argument).
    .middleware(((parsed: Record<string, unknown>, y: CommandYargs) => {
      requireFlagValues(argv, y.getOptions());
      requireOneValueEach(parsed, y.getOptions());
      skipHelpCache(y);
    }) as never)
    .version(packageVersion())
    .help()
    .wrap(Math.min(110, process.stdout.columns || 110));
  for (const c of await commandsFor(argv)) parser.command(c);
  try {
    await parser.parseAsync();
  } catch (err) {
    if (!failed) reportError(err);
    return 1;
  }
  return failed ? 1 : process.exitCode === undefined ? 0 : Number(process.exitCode);
}

/** What the middleware uses of the yargs instance that parsed a command (internal methods optional). */
type CommandYargs = { getOptions(): FlagOptions; getInternalMethods?(): { getUsageInstance?(): { cacheHelpMessage?: () => void } } };

/**
 * Once a command's handler has started, yargs renders the command's whole help text and keeps it,
 * in case the handler fails and help is to be shown: 37-41 ms of every command's start (a sweep's
 * serial start, each Slurm task, each CLI test), measured with --cpu-prof. silica never shows help
 * after a failure (a failure is one line), so the rendering is skipped. `--help` renders its own.
 * Internal to yargs: where a later version lacks the method, nothing is skipped and nothing breaks.
 */
function skipHelpCache(y: CommandYargs): void {
  const usage = y.getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

/**
 * A value that starts with a dash and a digit but is not a number (`--shard -1/2`, `--m -5x`)
 * would be read by yargs as a group of short flags (`Unknown argument: 1`): it is joined to its
 * flag (`--shard=-1/2`), so the flag's own check names the value. Plain negative numbers (`-5`,
 * `-1.5`) yargs reads as values already; with an exponent (`-1e3`) it does not. A negated switch
 * (`--no-json`) takes no value, and such a token after it, or after a flag's value, belongs to no
 * flag: refused as itself rather than blamed on the flag before it.
 */
function dashValuesJoined(tokens: readonly string[]): string[] {
  const out: string[] = [];
  const dashValue = (t: string | undefined) => t !== undefined && /^-\d/.test(t) && !/^-\d+(\.\d+)?$/.test(t);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') return [...out, ...tokens.slice(i)];
    const flag = /^--?([A-Za-z][\w-]*)$/.exec(token)?.[1];
    if (flag !== undefined && !flag.startsWith('no-') && dashValue(tokens[i + 1])) {
      out.push(`--${flag}=${tokens[i + 1]}`);
      i++;
    } else if (dashValue(token)) {
      throw new SilicaError(`unexpected argument ${JSON.stringify(token)}: not a flag, nor the value of one (to give a flag this value, write --flag=${token})`);
    } else out.push(token);
  }
  return out;
}

/**
 * A flag that takes a value but is given none (`--bytes` last, or followed by another flag) would
 * silently run with its default: yargs reads it as empty and fills the default in. Refused instead.
 * `-` alone is a value (stdin, stdout) and so is a negative number (the flag's own check judges it).
 * A switch given a value (`--overlap=maybe`) must be given true or false.
 */
type FlagOptions = { string: string[]; number: string[]; array: string[]; boolean: string[]; alias: Record<string, string[]> };

function requireFlagValues(tokens: readonly string[], options: FlagOptions): void {
  const valued = new Set([...options.string, ...options.number, ...options.array]);
  for (const [name, aliases] of Object.entries(options.alias)) if (valued.has(name)) for (const a of aliases) valued.add(a);
  const switches = new Set(options.boolean);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') return;
    // A switch written with a value takes only true or false (yargs read `--overlap=maybe` as true).
    const [, name, value] = /^--([A-Za-z][\w-]*)=(.*)$/.exec(token) ?? [];
    if (name !== undefined && switches.has(name) && value !== 'true' && value !== 'false') {
      throw new SilicaError(`--${name}: expected true or false, got ${JSON.stringify(value)}`);
    }
    const flag = /^--?([A-Za-z][\w-]*)$/.exec(token)?.[1];
    if (flag === undefined || !valued.has(flag)) continue;
    const next = tokens[i + 1];
    if (next === undefined || (next.startsWith('-') && next !== '-' && !/^-\d/.test(next))) {
      throw new SilicaError(`${token}: expected a value${next === undefined ? '' : `, got the flag ${next}`}`);
    }
  }
}

/**
 * A flag that takes one value, given twice, reaches yargs' result as a list of both: a command
 * then read `--hw mi300x --hw h100-sxm` as a list (an internal error), or labelled a collective
 * `algo ring,direct` while running one of them. Only the flags declared as lists take several.
 */
function requireOneValueEach(parsed: Record<string, unknown>, options: FlagOptions): void {
  const lists = new Set(options.array);
  // Short names of long flags (-o for --out) are copies too: the long name is the one named.
  const shortNames = new Set<string>();
  for (const [name, aliases] of Object.entries(options.alias)) {
    for (const a of aliases) {
      if (options.array.includes(name)) lists.add(a);
      shortNames.add(a.length < name.length ? a : name);
    }
  }
  for (const [key, value] of Object.entries(parsed)) {
    // camelCase keys are yargs' copies of kebab-case flags (input-len, inputLen): the flag as written is named.
    if (key === '_' || key === '$0' || !Array.isArray(value) || lists.has(key) || /[A-Z]/.test(key) || shortNames.has(key)) continue;
    throw new SilicaError(`${flagName(key)}: expected one value, got ${value.length} (${value.map((v) => JSON.stringify(v)).join(', ')}); give the flag once`);
  }
}

/**
 * silica's own version, from the package.json two folders above this file (dist/bundle/main.js
 * and dist/src/cli/main.js alike). yargs would look for one from the working directory up, and
 * print "unknown" (or another project's version) when silica runs from anywhere else.
 */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
    if (pkg.name === 'silica' && typeof pkg.version === 'string') return pkg.version;
  } catch {
    // Fall through: a copied bundle without its package.json still runs.
  }
  return 'unknown';
}

/**
 * yargs' own messages for a choice of values and a required flag, as silica's others read: the
 * flag, what was expected, what was got (`--op: expected one of copy, scale, add, triad, got "foo"`).
 */
export function yargsInOurWords(msg: string, argv: readonly string[]): string {
  const text = msg.replace(/\s+/g, ' ').trim();
  const choices = /^Invalid values: Argument: ([\w-]+), Given: (.+), Choices: (.+)$/.exec(text);
  if (choices) {
    // A positional (`silica collective <kind>`) is named bare, a flag as typed.
    const name = choices[1]!;
    const isFlag = argv.some((a) => a === flagName(name) || a.startsWith(`${flagName(name)}=`) || a === `--${name}` || a.startsWith(`--${name}=`));
    return `${isFlag ? flagName(name) : name}: expected one of ${choices[3]!.replace(/"/g, '')}, got ${choices[2]}`;
  }
  const missing = /^Missing required arguments?: (.+)$/.exec(text);
  if (missing) {
    const flags = missing[1]!.split(', ').map(flagName);
    return `${flags.join(', ')}: expected ${flags.length > 1 ? 'values' : 'a value'} (required; see --help)`;
  }
  return msg;
}

function reportError(err: unknown): void {
  if (err instanceof SilicaError) {
    process.stderr.write(`silica: ${err.message}\n`);
  } else if (err instanceof Error) {
    process.stderr.write(`silica: internal error: ${oneLine(err.message)} (please report with the command line)\n`);
    if (process.env.SILICA_DEBUG) process.stderr.write(`${err.stack}\n`);
  } else {
    process.stderr.write(`silica: ${oneLine(String(err))}\n`);
  }
}

// SILICA_DEBUG prints an internal error's stack; through the source maps it names the TypeScript
// lines, not the bundle's.
if (process.env.SILICA_DEBUG) process.setSourceMapsEnabled(true);

// A closed pipe (`silica ... | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    reportError(err);
    process.exitCode = 1;
  },
);
