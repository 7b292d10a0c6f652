import { existsSync, readFileSync, readSync, statSync } from 'node:fs';
import { SilicaError } from '../core/errors.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { readChakraTrace, chakraToTrace, type ChakraImport, type ChakraReadOptions } from './chakra/convert.js';
import { decodeChakraEt } from './chakra/et.js';
import { encodeChakraTrace } from './chakra/writer.js';
import { chakraRankFiles } from './chakra/files.js';
import { maybeGunzip } from './framing.js';
import { decodeSilicaTrace, encodeSilicaTrace, looksLikeSilicaTrace } from './silica-format.js';
import type { Trace } from './types.js';
import { checkOutputPath, OutputSet, writeFileAtomic } from '../core/io.js';

/**
 * Opening a trace by name, whatever its format: a silica trace file (gzip or not), `-` for
 * standard input, or a Chakra ET given as its prefix or any one rank's file (all ranks are
 * found). The format is recognised by content (a silica file starts with a silica Header record),
 * not by extension.
 */
export interface LoadedTrace {
  trace: Trace;
  format: 'silica' | 'chakra';
  /** What the user named (for messages). */
  source: string;
  chakra?: ChakraImport;
}

export function loadTrace(path: string, options: ChakraReadOptions = {}): LoadedTrace {
  if (path === '-') return fromBytes(readStdin(), 'stdin');
  if (existsSync(path) && statSync(path).isFile()) {
    const plain = maybeGunzip(readFile(path), path);
    if (looksLikeSilicaTrace(plain)) return { trace: decodeSilicaTrace(plain, path), format: 'silica', source: path };
    if (/\.et(\.gz)?$/.test(path)) return { ...chakra(path, options), source: path };
    return fromBytes(plain, path);
  }
  if (chakraRankFiles(path, false)) return { ...chakra(path, options), source: path };
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new SilicaError(`${path}: expected a trace file (a silica trace, or a Chakra ET prefix with files ${path}.<rank>.et), got a directory`, { file: path });
  }
  throw new SilicaError(`${path}: no such trace (expected a silica trace file, '-' for stdin, or a Chakra ET prefix with files ${path}.<rank>.et)`, { file: path });
}

/** Where a loaded trace states its world size, for messages: the silica header's field, or a Chakra trace's rank files. */
export function worldSizeField(loaded: LoadedTrace): string {
  return `${loaded.source}: ${loaded.format === 'silica' ? 'header.world_size' : 'rank count'}`;
}

/** The files a trace was read from (its name, for one read from stdin): what a command's outputs must not overwrite. */
export function traceInputFiles(loaded: LoadedTrace): string[] {
  if (!loaded.chakra) return [loaded.source];
  return [...loaded.chakra.files.map((f) => f.path), ...(loaded.chakra.commGroupsFile ? [loaded.chakra.commGroupsFile] : [])];
}

function chakra(path: string, options: ChakraReadOptions): Omit<LoadedTrace, 'source'> {
  const imp = readChakraTrace(path, options);
  return { trace: imp.trace, format: 'chakra', chakra: imp };
}

/** A silica trace, or else a single Chakra ET (a one-rank trace), from bytes of any name. */
function fromBytes(raw: Uint8Array, name: string): LoadedTrace {
  const plain = maybeGunzip(raw, name);
  if (looksLikeSilicaTrace(plain)) return { trace: decodeSilicaTrace(plain, name), format: 'silica', source: name };
  let file;
  try {
    file = decodeChakraEt(plain, name, 0);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(`${name}: `, '') : String(err);
    throw new SilicaError(`${name}: not a silica trace (it does not start with a silica Header record) nor a Chakra ET (${why})`, { file: name });
  }
  const trace = chakraToTrace([file], name);
  return { trace, format: 'chakra', source: name, chakra: { trace, files: [file], prefix: name } };
}

/**
 * The most bytes read from standard input: what readFileSync allows for a file (2 GiB), so a
 * trace is a trace whichever way it arrives, and an endless stream (a device, a producer that
 * never closes) ends in an error instead of filling the machine's memory.
 */
export const MAX_STDIN_BYTES = 2 ** 31 - 1;

export function readStdin(maxBytes = MAX_STDIN_BYTES): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, chunk, 0, chunk.length, null);
    } catch (err) {
      // A non-blocking pipe with nothing in it yet: wait a moment and read again.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      if ((err as NodeJS.ErrnoException).code === 'EOF') break;
      throw new SilicaError(`stdin: cannot read (${err instanceof Error ? err.message : String(err)})`);
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) throw new SilicaError(`stdin: expected a trace of at most ${maxBytes} bytes, got more (an endless stream?)`);
    chunks.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(chunks, total);
}

function readFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SilicaError(`${path}: cannot read (${err instanceof Error ? err.message : String(err)})`, { file: path });
  }
}

export type TraceFormat = 'silica' | 'chakra';

/**
 * Writes a trace. silica: one file (or stdout for '-'). Chakra: `<prefix>.<rank>.et` per rank
 * (`out` is the prefix; a trailing `.et` is dropped) plus `<prefix>.comm_group.json` when
 * collectives use sub-groups. Every file is encoded and its path checked before the first is
 * written, and if a later write still fails the ones written are removed: all files or none.
 * Returns the paths written.
 */
export function writeTrace(trace: Trace, out: string, format: TraceFormat, options: { gzip?: boolean; hw?: HardwareConfig }): string[] {
  if (format === 'silica') {
    if (out !== '-') checkOutputPath(out, '-o');
    const bytes = encodeSilicaTrace(trace, { gzip: options.gzip });
    if (out === '-') {
      process.stdout.write(bytes);
      return ['-'];
    }
    writeFileAtomic(out, bytes, `-o ${out}`);
    return [out];
  }
  if (out === '-') throw new SilicaError(`-o -: --format chakra writes one file per rank; give a file prefix (e.g. -o traces/bert)`);
  if (out === '') checkOutputPath(out, '-o');
  const prefix = out.replace(/\.et(\.gz)?$/, '');
  if (!options.hw) throw new Error('writeTrace: Chakra export needs a hardware config (num_ops/tensor_size are costed on it)');
  const exported = encodeChakraTrace(trace, options.hw, { gzip: options.gzip });
  const files = exported.files.map((bytes, rank) => ({ path: `${prefix}.${rank}.et${options.gzip ? '.gz' : ''}`, bytes }));
  if (exported.commGroups) files.push({ path: `${prefix}.comm_group.json`, bytes: Buffer.from(JSON.stringify(exported.commGroups, null, 1) + '\n') });
  for (const f of files) checkOutputPath(f.path, '-o');
  const outputs = new OutputSet();
  outputs.run(() => files.forEach((f) => outputs.write(f.path, f.bytes, '-o')));
  return files.map((f) => f.path);
}
