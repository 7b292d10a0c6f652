/**
 * Errors are values with context. Every user-facing failure (bad YAML, bad flag, bad trace) is a
 * SilicaError whose message is one line naming where (file), what (field) and what was expected.
 * The CLI edge prints `silica: <message>` and exits non-zero; it never prints a stack trace.
 */
export class SilicaError extends Error {
  constructor(
    message: string,
    /** `against`: the other fields a check between fields compared `field` with. */
    readonly where?: { file?: string; field?: string; against?: readonly string[] },
  ) {
    super(oneLine(message));
    this.name = 'SilicaError';
  }
}

/**
 * Runs `f`; a SilicaError it throws comes back with `context` in front (`FILE: points.3 ("p"): ...`),
 * after `rewrite` (a CLI flag turned into the field the context names, say), unless it already
 * names the context. Anything else (a bug) passes through unchanged.
 */
export async function withErrorContext<T>(context: string, f: () => Promise<T>, rewrite: (message: string) => string = (m) => m): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof SilicaError && !err.message.startsWith(context)) throw new SilicaError(`${context}: ${rewrite(err.message)}`, err.where);
    throw err;
  }
}

/**
 * Study and experiment code shares its resolution with the CLI commands, whose messages name a
 * flag (`--hw: unknown preset`); raised for a file, the same thing is the file's field (`hw`), or
 * wherever `fieldOf` says that field sits in the file.
 */
export function flagAsField(message: string, fieldOf: (field: string) => string = (f) => f): string {
  return message.replace(LEADING_FLAG, (_, long: string | undefined, short: string | undefined) => fieldOf((long ?? short!).replace(/-/g, '_')));
}

/**
 * A flag a message starts with, as flagName writes it (`--batch`, `-m`), after the kernel model's
 * name where a kernel model names its inputs as `silica kernel` takes them (`gemm -m`).
 */
const LEADING_FLAG = /^(?:[a-z]+ )?(?:--([a-z][a-z0-9-]*)|-([a-z])(?![\w-]))/;

/** A flag as --help lists it: a one-letter name takes one dash (`-m`), a longer one two (`--batch`). */
export function flagName(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/** `f`'s result; a flag its error starts with (`--tp: ...`, from code shared with the CLI) is the file's field `at` instead. */
export function asField<T>(f: () => T, at: string): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof SilicaError) throw new SilicaError(flagAsField(err.message, () => at), err.where);
    throw err;
  }
}

/** Builds the canonical "file: field: expected X, got Y" message. */
export function configError(file: string | undefined, field: string, expected: string, got?: unknown): SilicaError {
  const gotText = got === undefined ? '' : `, got ${describe(got)}`;
  const prefix = file ? `${file}: ` : '';
  return new SilicaError(`${prefix}${field}: expected ${expected}${gotText}`, { file, field });
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (value === null) return 'null';
  // A field left out: "got nothing" reads as what happened; "got undefined" as a JavaScript leak.
  if (value === undefined) return 'nothing (the field is missing)';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Internal invariant violation: a bug in silica, not bad input. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`silica internal invariant violated: ${message}`);
}
