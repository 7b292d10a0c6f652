import { describe, expect, it } from 'vitest';
import { bucket } from '../../src/sw/serving/buckets.js';

/** The grid as documented, by its defining formula (log2): bucket() must give exactly this. */
const byLog2 = (n: number) => (n <= 32 ? Math.max(0, Math.round(n)) : Math.max(32, Math.round(n / 2 ** (Math.floor(Math.log2(n)) - 4)) * 2 ** (Math.floor(Math.log2(n)) - 4)));

describe('serving shape buckets', () => {
  it('are the log2 grid for every whole number up to 2^20, around every power of two, and for fractions', () => {
    for (let n = 0; n <= 1 << 20; n++) if (bucket(n) !== byLog2(n)) throw new Error(`bucket(${n}) = ${bucket(n)}, expected ${byLog2(n)}`);
    for (let k = 5; k <= 40; k++) for (const n of [2 ** k - 1, 2 ** k, 2 ** k + 1]) expect(bucket(n)).toBe(byLog2(n));
    for (const n of [32.4, 33.5, 63.99, 100.25, 4095.5, 1e6 + 0.5, 3e9]) expect(bucket(n)).toBe(byLog2(n));
  });

  it('stay within 1/32 of the value above 32 (half a step of 1/16 of its power of two)', () => {
    for (const n of [33, 47, 100, 1000, 5000, 32767, 100000]) expect(Math.abs(bucket(n) - n) / n).toBeLessThanOrEqual(1 / 32);
  });
});
