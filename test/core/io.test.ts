import { describe, expect, it } from 'vitest';
import { csvCell, formatNumber } from '../../src/core/io.js';

/** The definition formatNumber must keep: 6 significant digits, printed in JavaScript's shortest form. */
const reference = (v: number): string => (Number.isInteger(v) || !Number.isFinite(v) ? String(v) : String(Number(v.toPrecision(6))));

describe('number formatting for tables', () => {
  it('equals the 6-significant-digit reference across magnitudes, signs and rounding cases', () => {
    // A fixed linear congruential sequence: the same 200k values on every run.
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const values = [0.1, 0.5, 100.5, 999999.5, 123456.7, 1234567.8, 1e-7, 1e-6, 1.5e-6, -1e-6, 5e-324, 1.7976931348623157e308, 1e21 + 0.5, -0, NaN, Infinity, -Infinity];
    for (let i = 0; i < 100_000; i++) {
      const v = (next() * 2 - 1) * 10 ** (Math.floor(next() * 60) - 30);
      values.push(v, Math.round(v * 1000) / 1000);
    }
    for (const v of values) expect(formatNumber(v)).toBe(reference(v));
  });

  it('quotes CSV cells only where RFC 4180 needs it', () => {
    expect(csvCell(1 / 3)).toBe('0.333333');
    expect(csvCell(18.2)).toBe('18.2');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell(undefined)).toBe('');
  });
});
