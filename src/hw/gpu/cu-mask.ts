import { SilicaError } from '../../core/errors.js';
import type { CuLayout } from './cu-layout.js';

/**
 * A set of enabled logical CUs, as a stream's CU mask leaves it. Immutable once built; kept as a
 * bitmap plus per-group counts because the dispatcher only needs counts per group.
 */
export interface CuSet {
  readonly enabled: Uint8Array;
  readonly count: number;
  /** Enabled CUs per group (XCD). */
  readonly perGroup: Uint16Array;
  /** Stable key for memoisation. */
  readonly key: string;
}

/** First-n CU sets per layout (n = cus is the full set): immutable, so shared. */
const firstNCache = new WeakMap<CuLayout, Map<number, CuSet>>();

export function fullCuSet(layout: CuLayout): CuSet {
  return firstNCus(layout, layout.cus);
}

/** The first n logical CUs (bits 0..n-1), i.e. what `--cus N` means. */
export function firstNCus(layout: CuLayout, n: number): CuSet {
  if (!Number.isInteger(n) || n < 1 || n > layout.cus) {
    throw new SilicaError(`--cus: expected a whole number from 1 to ${layout.cus}, got ${n}`);
  }
  let byN = firstNCache.get(layout);
  if (!byN) firstNCache.set(layout, (byN = new Map()));
  let set = byN.get(n);
  if (!set) {
    const bits = new Uint8Array(layout.cus);
    bits.fill(1, 0, n);
    byN.set(n, (set = cuSetFromBits(layout, bits)));
  }
  return set;
}

/** Whether two CU sets share a CU. */
export function cuSetsOverlap(a: CuSet, b: CuSet): boolean {
  if (a === b) return true;
  for (let i = 0; i < a.enabled.length; i++) if (a.enabled[i] && b.enabled[i]) return true;
  return false;
}

/** CUs [from, from+n) in logical order; used to carve disjoint partitions. */
export function cuRange(layout: CuLayout, from: number, n: number): CuSet {
  const bits = new Uint8Array(layout.cus);
  bits.fill(1, from, Math.min(layout.cus, from + n));
  return cuSetFromBits(layout, bits);
}

/**
 * Parses a hex CU mask ("0xFF00FF", bit 0 = logical CU 0), as the array of 32-bit words of
 * hipExtStreamCreateWithCUMask would be written in one number. A set bit past the last CU is an
 * error (ROCr would silently trim it; here it is almost certainly a mistake in a sweep).
 */
export function parseCuMask(layout: CuLayout, hex: string): CuSet {
  const text = hex.trim().replace(/^0x/i, '').replace(/_/g, '');
  if (!/^[0-9a-fA-F]+$/.test(text)) throw new SilicaError(`--cu-mask: expected a hex mask such as 0xFF, got "${hex}"`);
  const bits = new Uint8Array(layout.cus);
  let highest = -1;
  for (let d = 0; d < text.length; d++) {
    const nibble = parseInt(text[text.length - 1 - d]!, 16);
    for (let b = 0; b < 4; b++) {
      if (!(nibble & (1 << b))) continue;
      const bit = d * 4 + b;
      highest = Math.max(highest, bit);
      if (bit < layout.cus) bits[bit] = 1;
    }
  }
  if (highest >= layout.cus) {
    throw new SilicaError(`--cu-mask: bit ${highest} is set but the part has only ${layout.cus} CUs (bits 0-${layout.cus - 1})`);
  }
  if (highest < 0) throw new SilicaError('--cu-mask: expected at least one CU enabled, got an empty mask');
  return cuSetFromBits(layout, bits);
}

export function cuSetFromBits(layout: CuLayout, bits: Uint8Array): CuSet {
  const perGroup = new Uint16Array(layout.groups);
  let count = 0;
  for (let i = 0; i < layout.cus; i++) {
    if (bits[i]) {
      perGroup[layout.groupOfCu[i]!]!++;
      count++;
    }
  }
  return { enabled: bits, count, perGroup, key: maskKey(bits) };
}

/** Groups (XCDs) that the set leaves with no CU. */
export function emptyGroups(set: CuSet): number[] {
  const out: number[] = [];
  set.perGroup.forEach((n, g) => {
    if (n === 0) out.push(g);
  });
  return out;
}

export function maskHex(set: CuSet): string {
  let hex = '';
  for (let i = 0; i < set.enabled.length; i += 4) {
    let nibble = 0;
    for (let b = 0; b < 4 && i + b < set.enabled.length; b++) if (set.enabled[i + b]) nibble |= 1 << b;
    hex = nibble.toString(16) + hex;
  }
  return '0x' + (hex.replace(/^0+(?=.)/, '') || '0');
}

function maskKey(bits: Uint8Array): string {
  let key = '';
  for (let i = 0; i < bits.length; i += 32) {
    let word = 0;
    for (let b = 0; b < 32 && i + b < bits.length; b++) if (bits[i + b]) word |= 1 << b;
    key += (word >>> 0).toString(16) + '.';
  }
  return key;
}
