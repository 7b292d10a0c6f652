import { describe, expect, it } from 'vitest';
import { boundedMemo } from '../../src/core/bounded-memo.js';

describe('boundedMemo', () => {
  it('computes a key once, and holds no more than its limit', () => {
    const computed: string[] = [];
    const upper = boundedMemo((s: string) => (computed.push(s), s.toUpperCase()), 2);
    expect([upper('a'), upper('a'), upper('b'), upper('a')]).toEqual(['A', 'A', 'B', 'A']);
    expect(computed).toEqual(['a', 'b']);
    // A third key starts the memo over: 'a' is computed again, the answer never changes.
    expect([upper('c'), upper('a'), upper('c')]).toEqual(['C', 'A', 'C']);
    expect(computed).toEqual(['a', 'b', 'c', 'a']);
  });
});
