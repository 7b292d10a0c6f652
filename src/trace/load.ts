import { existsSync, readFileSync, statSync } from 'node:fs';
import { SilicaError } from '../core/errors.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { readChakraTrace, chakraToTrace, type ChakraImport, type ChakraReadOptions } from './chakra/convert.js';
import { decodeChakraEt } from './chakra/et.js';
import { encodeChakraTrace } from './chakra/writer.js';
import { chakraRankFiles } from './chakra/files.js';
import { maybeGunzip } from './framing.js';
import { decodeSilicaTrace, encodeSilicaTrace, looksLikeSilicaTrace } from './silica-format.js';
import type { Trace } from './types.js';
import { writeFileAtomic } from '../core/io.js';

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
  throw new SilicaError(`${path}: no such trace (expected a silica trace file, '-' for stdin, or a Chakra ET prefix with files ${path}.<rank>.et)`, { file: path });
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

function readStdin(): Uint8Array {
  try {
    return readFileSync(0);
  } catch (err) {
    throw new SilicaError(`stdin: cannot read (${err instanceof Error ? err.message : String(err)})`);
  }
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
 * collectives use sub-groups. Every file is encoded before the first is written, and each is
 * written atomically. Returns the paths written.
 */
export function writeTrace(trace: Trace, out: string, format: TraceFormat, options: { gzip?: boolean; hw?: HardwareConfig }): string[] {
  if (format === 'silica') {
    const bytes = encodeSilicaTrace(trace, { gzip: options.gzip });
    if (out === '-') {
      process.stdout.write(bytes);
      return ['-'];
    }
    writeFileAtomic(out, bytes);
    return [out];
  }
  if (out === '-') throw new SilicaError(`-o -: --format chakra writes one file per rank; give a file prefix (e.g. -o traces/bert)`);
  const prefix = out.replace(/\.et(\.gz)?$/, '');
  if (!options.hw) throw new Error('writeTrace: Chakra export needs a hardware config (num_ops/tensor_size are costed on it)');
  const exported = encodeChakraTrace(trace, options.hw, { gzip: options.gzip });
  const written: string[] = [];
  const files = exported.files.map((bytes, rank) => ({ path: `${prefix}.${rank}.et${options.gzip ? '.gz' : ''}`, bytes }));
  if (exported.commGroups) files.push({ path: `${prefix}.comm_group.json`, bytes: Buffer.from(JSON.stringify(exported.commGroups, null, 1) + '\n') });
  for (const f of files) {
    writeFileAtomic(f.path, f.bytes);
    written.push(f.path);
  }
  return written;
}
