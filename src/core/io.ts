import { closeSync, copyFileSync, linkSync, mkdirSync, openSync, renameSync, rmdirSync, rmSync, statSync, writeSync, writevSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SilicaError } from './errors.js';

/**
 * Output paths. A command checks every path it will write (checkOutputPath) before it writes any,
 * so bad input fails before the work; an OutputSet then removes what a command wrote when a later
 * write still fails (a full disk, /proc), so a failed command leaves no partial outputs behind, and
 * puts back the files it had replaced: a failed rerun into a folder keeps the earlier run's results.
 */
export type OutputKind = 'file' | 'directory';

type Found = OutputKind | 'special' | 'missing';

function found(path: string): Found {
  // ENOENT, ENOTDIR, EACCES...: nothing usable there; creating it reports the real reason.
  const st = statOrNothing(path);
  if (!st) return 'missing';
  return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'special';
}

/**
 * What is at `path`, or undefined where nothing usable is: missing, a path no file can be at
 * (`part.yaml/`, a path under a file, a NUL, too long) or one that cannot be stat'ed.
 */
export function statOrNothing(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Node's error text without the paths it names (an internal temp name means nothing to the user). */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.message.split('\n')[0]!.replace(/, \w+ '.*$/, '');
}

/**
 * Rejects an output path before anything is written: empty, an existing entry of the other kind
 * (a directory where a file goes, or the reverse), a device or pipe (an atomic write would replace
 * it), or under an existing file. `flag` names the option in the message (e.g. `--out`).
 */
export function checkOutputPath(path: string, flag: string, kind: OutputKind = 'file'): void {
  if (path === '') throw new SilicaError(`${flag}: expected a path, got an empty string`);
  const at = found(path);
  if (at === 'special') throw new SilicaError(`${flag} ${path}: expected a ${kind}, got a special file (device, pipe or socket)`);
  if (at !== 'missing') {
    if (at !== kind) throw new SilicaError(`${flag} ${path}: expected a ${kind}, got a ${at}`);
    return;
  }
  let up = dirname(path);
  while (found(up) === 'missing' && dirname(up) !== up) up = dirname(up);
  if (found(up) !== 'directory') throw new SilicaError(`${flag} ${path}: expected ${up} to be a directory, got a file`);
}

/**
 * Whether two paths name one file: the same path once resolved, or, both existing, the same file
 * on disk (a symlink or hard link to it), so an output cannot quietly replace an input or another output.
 */
export function samePath(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/**
 * Creates a directory and its missing parents one level at a time, from the nearest existing
 * ancestor: Node's recursive mkdirSync retries forever where mkdir fails with ENOENT (under
 * /proc). Returns the directories it created, outermost first; on failure removes them again.
 */
export function makeDirectory(dir: string, label = dir): string[] {
  const missing: string[] = [];
  for (let d = resolve(dir); found(d) !== 'directory' && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  const created: string[] = [];
  for (const d of missing) {
    try {
      mkdirSync(d);
      created.push(d);
    } catch (err) {
      // Another writer (a sweep worker) may have made it meanwhile.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && found(d) === 'directory') continue;
      removeDirectories(created);
      throw new SilicaError(`${label}: cannot create directory (${reason(err)})`);
    }
  }
  journal?.dirs.push(...created);
  return created;
}

/** Removes directories (given outermost first, as makeDirectory returns them) that are empty; one still holding files stays. */
export function removeDirectories(dirs: readonly string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty (someone else's files) or gone: leave it.
    }
  }
}

/**
 * Writes a file atomically: to a temporary sibling, then rename. A crash or a validation error
 * mid-run never leaves a half-written output behind. `label` names the output in messages
 * (default: the path), never the temporary name. Inside an OutputSet, a file it replaces is kept
 * (see keepPrevious) until the set is done, so that a failure can put it back.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, label = path): void {
  writeFileAtomicFrom(path, (write) => write(data), label);
}

/**
 * writeFileAtomic for content written piece by piece (`fill` calls `write` as often as it likes):
 * outputs too big to hold as one string, such as a large sweep's tables, which V8 caps at 512 MiB.
 */
export function writeFileAtomicFrom(path: string, fill: (write: (data: string | Uint8Array) => void) => void, label = path): void {
  const file = new AtomicFile(path, label);
  try {
    fill(file.write);
  } catch (err) {
    file.fail(err);
  }
  file.commit();
}

/**
 * writeFileAtomicFrom for content made between awaits (a large sweep's config.resolved.yaml, written
 * as it renders so it is never held whole): other writes may run meanwhile, to other files.
 */
export async function writeFileAtomicFromAsync(path: string, fill: (write: (data: string | Uint8Array) => void) => Promise<void>, label = path): Promise<void> {
  const file = new AtomicFile(path, label);
  try {
    await fill(file.write);
  } catch (err) {
    file.fail(err);
  }
  file.commit();
}

/** A file being written atomically: a temporary sibling, renamed over `path` by commit. */
class AtomicFile {
  private readonly tmp: string;
  private readonly previous: string | undefined;
  private fd: number | undefined;
  /** The OutputSet running when the write began: it owns the file (see OutputSet.run). */
  private readonly owner = journal;

  constructor(
    private readonly path: string,
    private readonly label: string,
  ) {
    if (path === '') throw new SilicaError('output path: expected a path, got an empty string');
    makeDirectory(dirname(path), label);
    this.previous = this.owner && found(path) === 'file' ? keepPrevious(path) : undefined;
    this.tmp = `${path}.tmp-${process.pid}`;
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (err) {
      this.fail(err);
    }
  }

  readonly write = (data: string | Uint8Array): void => writeAll(this.fd!, data);

  commit(): void {
    try {
      closeSync(this.fd!);
      this.fd = undefined;
      renameSync(this.tmp, this.path);
    } catch (err) {
      this.fail(err);
    }
    this.owner?.files.push({ path: this.path, previous: this.previous });
  }

  /** Removes the temporary file (and the kept previous one) and throws a one-line error. */
  fail(err: unknown): never {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
    if (this.previous) rmSync(this.previous, { force: true });
    if (err instanceof SilicaError) throw err;
    throw new SilicaError(`${this.label}: cannot write (${reason(err)})`);
  }
}

/**
 * Joins pieces of text into writes of about a MiB: a write per piece is slow (a system call each,
 * a pipe's flow control), and the whole can be too big to hold (V8's longest string is 512 MiB).
 * `end` writes what is left.
 */
export function batchedWrites(write: (text: string) => void, chars = 1 << 20): { add(piece: string): void; end(): void } {
  let text = '';
  return {
    add(piece) {
      text += piece;
      if (text.length < chars) return;
      write(text);
      text = '';
    },
    end() {
      write(text);
      text = '';
    },
  };
}

/** Writes all of `data` at the file's position (writeSync may write less than it is given). */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

/** At most this many buffers per writev (Linux's IOV_MAX). */
const IOV_MAX = 1024;

/**
 * Writes all the buffers, in order, in as few system calls as writev allows, without joining them:
 * a joined copy of a MiB is a fresh mapping that is unmapped again, and with worker threads in the
 * process every unmap interrupts the other cores (a TLB shootdown).
 */
export function writeAllOf(fd: number, chunks: readonly Uint8Array[]): void {
  for (let first = 0; first < chunks.length; ) {
    const batch = chunks.slice(first, first + IOV_MAX);
    let written = writevSync(fd, batch);
    first += batch.length;
    // A short write: finish the buffer it stopped in, then go on from the next one.
    for (const [i, chunk] of batch.entries()) {
      if (written >= chunk.length) {
        written -= chunk.length;
        continue;
      }
      writeAll(fd, chunk.subarray(written));
      for (const rest of batch.slice(i + 1)) writeAll(fd, rest);
      break;
    }
  }
}

let previousCount = 0;

/**
 * A second name for the file at `path` (a hard link, or a copy where links are not supported), so
 * that renaming the new file over it keeps the old one. Undefined where neither works: the write
 * then goes ahead, and a failure can only remove the new file.
 */
function keepPrevious(path: string): string | undefined {
  const previous = `${path}.previous-${process.pid}-${previousCount++}`;
  try {
    linkSync(path, previous);
    return previous;
  } catch {
    try {
      copyFileSync(path, previous);
      return previous;
    } catch {
      rmSync(previous, { force: true });
      return undefined;
    }
  }
}

/** What the innermost running OutputSet has written and created (see OutputSet.run). */
interface Journal {
  /** Newest last; `previous` holds the file that the write replaced, until the set is done. */
  files: Array<{ path: string; previous?: string }>;
  dirs: string[];
}
let journal: Journal | undefined;

/**
 * The outputs of one command, all or nothing: what it wrote (through `write`, or anywhere inside
 * `run`, e.g. a study's figures) is removed again, with the directories it created, and the files
 * it replaced are put back, if the command fails before it is done. Check every path
 * (checkOutputPath) before the first write.
 */
export class OutputSet {
  private readonly done: Journal = { files: [], dirs: [] };

  /**
   * Checks now that an output folder can be made (or written into), so a bad one fails before the
   * work. The folder itself comes with its first file (writes make their folders): a run stopped
   * before it writes anything, by Ctrl-C say, leaves no empty folder behind.
   */
  directory(path: string, flag: string): void {
    checkOutputPath(path, flag, 'directory');
    // Made and written into for real (permissions alone say nothing of /proc or a full disk),
    // then taken back: the levels this made go again, with the probe file.
    const created = makeDirectory(path, `${flag} ${path}`);
    const probe = join(path, `.silica-probe-${process.pid}`);
    try {
      closeSync(openSync(probe, 'w'));
      rmSync(probe, { force: true });
    } catch (err) {
      throw new SilicaError(`${flag} ${path}: cannot write into directory (${reason(err)})`);
    } finally {
      removeDirectories(created);
    }
  }

  /** Writes one file atomically; if that fails, discards what the set wrote before rethrowing. */
  write(path: string, data: string | Uint8Array, flag?: string): void {
    this.run(() => writeFileAtomic(path, data, flag ? `${flag} ${path}` : path));
  }

  /** Runs `body` (sync or async), recording what it writes; if it throws, discards and rethrows. */
  run<T>(body: () => T): T {
    const outer = journal;
    // An enclosing set owns these outputs too: it removes them if it fails later.
    const succeed = (value: T): T => {
      journal = outer;
      if (outer && outer !== this.done) outer.files.push(...this.done.files.splice(0)), outer.dirs.push(...this.done.dirs.splice(0));
      else if (!outer) this.keep();
      return value;
    };
    const fail = (err: unknown): never => {
      journal = outer;
      this.discard();
      throw err;
    };
    journal = this.done;
    let result: T;
    try {
      result = body();
    } catch (err) {
      return fail(err);
    }
    return result instanceof Promise ? (result.then(succeed, fail) as T) : succeed(result);
  }

  /**
   * Removes the files written, newest first, putting back any file a write replaced, then the
   * directories created if empty.
   */
  discard(): void {
    for (const { path, previous } of this.done.files.splice(0).reverse()) {
      try {
        if (previous) renameSync(previous, path);
        else rmSync(path, { force: true });
      } catch {
        // Best effort, on the way out of a failure: the command's own error is the one to report.
      }
    }
    removeDirectories(this.done.dirs.splice(0));
  }

  /** The outermost run succeeded: the replaced files are no longer needed. */
  private keep(): void {
    for (const f of this.done.files) {
      if (f.previous) rmSync(f.previous, { force: true });
      f.previous = undefined;
    }
  }
}

/**
 * Tidy CSV: header from the rows' keys in the order they first appear (or given columns), RFC 4180
 * quoting. Every row's keys, not the first row's alone: a column only later rows have is kept.
 */
export function toCsv(rows: ReadonlyArray<Record<string, unknown>>, columns?: string[]): string {
  const cols = columns ?? columnsOf(rows);
  const lines = [cols.join(',')];
  for (const row of rows) lines.push(cols.map((c) => csvCell(row[c])).join(','));
  return lines.join('\n') + '\n';
}

/** Union of the rows' keys in order of first appearance: deterministic for a deterministic row order. */
export function columnsOf(rows: ReadonlyArray<Record<string, unknown>>): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  // A formatted number never holds a quote, comma or newline. NaN is a value not there (a serving
  // run without a request rate): an empty cell, as JSON lines write it null.
  if (typeof value === 'number') return Number.isNaN(value) ? '' : formatNumber(value);
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Stable number formatting for outputs: integers as-is, others with 6 significant digits in
 * JavaScript's shortest form (`String(Number(value.toPrecision(6)))`). toPrecision's text is
 * already that form unless it pads with zeros or uses an exponent, so only then is it re-printed
 * (sweep tables format hundreds of thousands of cells).
 */
export function formatNumber(value: number): string {
  if (Number.isInteger(value) || !Number.isFinite(value)) return String(value);
  const text = value.toPrecision(6);
  return text.includes('e') || text.endsWith('0') ? String(Number(text)) : text;
}

/** Rounds every number in a JSON-able tree to 6 significant digits for stable, readable output. */
export function roundTree<T>(value: T): T {
  if (typeof value === 'number') return (Number.isInteger(value) || !Number.isFinite(value) ? value : Number(value.toPrecision(6))) as T;
  if (Array.isArray(value)) return value.map(roundTree) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = roundTree(v);
    return out as T;
  }
  return value;
}
