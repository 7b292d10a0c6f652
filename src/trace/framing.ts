import { gunzipSync, gzipSync } from 'node:zlib';
import { SilicaError } from '../core/errors.js';

/**
 * Length-delimited protobuf framing (a varint byte length, then the message), shared by silica
 * traces and Chakra ETs, plus optional gzip detected by its magic bytes. Framing is done here
 * rather than with protobufjs' decodeDelimited so that a cut file is reported precisely
 * (which message, how many bytes were missing) instead of as a generic range error.
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** What a gzipped trace may expand to: readFileSync's limit for a file (2 GiB). */
const MAX_GUNZIPPED_BYTES = 2 ** 31 - 1;

export function maybeGunzip(bytes: Uint8Array, file: string, maxBytes = MAX_GUNZIPPED_BYTES): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    // Bounded, so that a small gzip bomb cannot fill memory.
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if (err instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SilicaError(`${file}: expected a gzip stream of at most ${maxBytes} bytes uncompressed, got more`, { file });
    }
    throw new SilicaError(`${file}: gzip stream is truncated or corrupt (${err instanceof Error ? err.message : String(err)})`, { file });
  }
}

/** gzip with fixed settings: identical input gives identical bytes (Node writes mtime 0). */
export function gzip(bytes: Uint8Array): Uint8Array {
  return gzipSync(bytes, { level: 9 });
}

/** Splits a buffer into its length-delimited messages (views, no copies). */
export function splitDelimited(bytes: Uint8Array, file: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let len = 0;
    let shift = 0;
    const start = pos;
    for (;;) {
      if (pos >= bytes.length) throw new SilicaError(`${file}: truncated: length prefix of message ${out.length + 1} at byte ${start} is cut off`, { file });
      const b = bytes[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
      if (shift > 49) throw new SilicaError(`${file}: message ${out.length + 1} at byte ${start}: length prefix is not a valid varint (not a length-delimited protobuf stream?)`, { file });
    }
    if (pos + len > bytes.length) {
      throw new SilicaError(`${file}: truncated: message ${out.length + 1} at byte ${start} needs ${len} bytes, ${bytes.length - pos} left`, { file });
    }
    out.push(bytes.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** Concatenates messages, each preceded by its varint length. */
export function joinDelimited(messages: Uint8Array[]): Uint8Array {
  let total = 0;
  const prefixes = messages.map((m) => {
    const p = varintBytes(m.length);
    total += p.length + m.length;
    return p;
  });
  const out = new Uint8Array(total);
  let pos = 0;
  messages.forEach((m, i) => {
    out.set(prefixes[i]!, pos);
    pos += prefixes[i]!.length;
    out.set(m, pos);
    pos += m.length;
  });
  return out;
}
