import { describe, expect, it } from 'vitest';
import { sortFloat64 } from '../../src/core/sort-f64.js';

/** Deterministic values (xorshift) spread over signs and magnitudes, with the corner cases mixed in. */
function values(n: number, seed: number, corners: number[] = []): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.05 && corners.length) out[i] = corners[Math.floor(next() * corners.length)]!;
    else if (r < 0.3) out[i] = Math.round(next() * 100); // repeated integers
    else if (r < 0.6) out[i] = (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    else out[i] = next() * 1e7;
  }
  return out;
}

/** The same numbers in the same order, bit for bit (Object.is tells -0 from +0). */
function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const wa = new Uint32Array(a.buffer, a.byteOffset, 2 * a.length);
  const wb = new Uint32Array(b.buffer, b.byteOffset, 2 * b.length);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
  return true;
}

describe('sortFloat64', () => {
  const corners = [0, -0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, 2.2250738585072014e-308];

  it('orders as Float64Array.prototype.sort, bit for bit, at every length and sign mix', () => {
    for (const n of [0, 1, 2, 100, 2047, 2048, 5000, 70000]) {
      for (const seed of [1, 7, 12345]) {
        const v = values(n, seed, corners);
        const expected = v.slice().sort();
        expect(sameBits(sortFloat64(v.slice()), expected), `n=${n} seed=${seed}`).toBe(true);
      }
    }
  });

  it('orders repeated values (runs and scattered repeats, zeros of both signs) as the built-in sort', () => {
    // The counting path: a few hundred distinct values, in runs as a decode batch's gaps come.
    for (const seed of [2, 5, 11]) {
      const pool = values(300, seed, corners);
      const runs = values(50000, seed + 100);
      const v = new Float64Array(50000);
      for (let i = 0; i < v.length; ) {
        const x = pool[Math.floor(Math.abs(runs[i]!) * 7919) % pool.length]!;
        const length = 1 + (i % 37);
        for (let k = 0; k < length && i < v.length; k++) v[i++] = x;
      }
      for (let i = 0; i < v.length; i += 101) v[i] = i % 2 ? -0 : 0;
      expect(sameBits(sortFloat64(v.slice()), v.slice().sort()), `seed=${seed}`).toBe(true);
    }
  });

  it('orders values that repeat at first and then differ as the built-in sort', () => {
    const v = values(40000, 21, corners);
    v.fill(3.5, 0, 8000);
    expect(sameBits(sortFloat64(v.slice()), v.slice().sort())).toBe(true);
  });

  it('puts -0 before +0, as the built-in sort does', () => {
    const v = new Float64Array(4096);
    for (let i = 0; i < v.length; i++) v[i] = i % 2 ? 0 : -0;
    const s = sortFloat64(v);
    expect(Object.is(s[0], -0)).toBe(true);
    expect(Object.is(s[2047], -0)).toBe(true);
    expect(Object.is(s[2048], 0)).toBe(true);
  });

  it('leaves arrays holding a NaN to the built-in order (every NaN last)', () => {
    const v = values(4096, 3);
    v[17] = NaN;
    v[1000] = -NaN;
    const s = sortFloat64(v.slice());
    expect(Number.isNaN(s[4094]) && Number.isNaN(s[4095])).toBe(true);
    expect(sameBits(s.subarray(0, 4094), v.slice().sort().subarray(0, 4094))).toBe(true);
  });

  it('sorts a view in place, leaving the rest of its buffer alone', () => {
    const whole = values(10000, 9, corners);
    const before = whole.slice();
    const view = whole.subarray(1000, 9000);
    const expected = view.slice().sort();
    expect(sortFloat64(view)).toBe(view);
    expect(sameBits(view, expected)).toBe(true);
    expect(sameBits(whole.subarray(0, 1000), before.subarray(0, 1000))).toBe(true);
    expect(sameBits(whole.subarray(9000), before.subarray(9000))).toBe(true);
  });
});
