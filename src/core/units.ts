import { SilicaError } from './errors.js';

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/**
 * Parses "4GiB", "512MB", "1048576", "8G" (nccl-tests style: K/M/G are binary), and "1e9" as a YAML
 * file's `bytes: 1e9` reads (a whole number of bytes either way).
 */
export function parseBytes(text: string | number, field = 'bytes'): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0 || !Number.isInteger(text)) {
      throw new SilicaError(`${field}: expected a non-negative whole number of bytes, got ${text}`);
    }
    return text;
  }
  const match = /^\s*(\d+(?:\.\d+)?(?:[eE]\+?\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase() || 'b'] : undefined;
  if (!match || unit === undefined) {
    throw new SilicaError(`${field}: expected a size such as 4GiB, 512MB or 1048576, got "${text}"`);
  }
  const bytes = Number(match[1]) * unit;
  if (!Number.isInteger(bytes)) throw new SilicaError(`${field}: expected a whole number of bytes, got "${text}"`);
  return bytes;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(2)}${units[i]}`;
}

/** Parses a positive integer flag strictly ("8192", not "8192.5", "-1" or "8k"). */
export function parsePositiveInt(value: unknown, field: string): number {
  // Scientific notation that names a whole number (1e3, 2.5e3) is that number, as in a YAML file.
  const n = typeof value === 'string' && /^\s*\d+(\.\d+)?([eE]\+?\d+)?\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
    throw new SilicaError(`${field}: expected a positive whole number, got ${JSON.stringify(value)}`);
  }
  // Past 2^53 a double no longer holds every whole number: 2^53 + 1 would run as 2^53.
  if (!Number.isSafeInteger(n)) throw new SilicaError(`${field}: expected a whole number up to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(value)}`);
  return n;
}

/** `n` and a noun, in the singular for one: "1 point", "20 points". */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
