import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { KvBlockManager } from '../../src/sw/serving/kv-cache.js';

describe('paged KV cache', () => {
  it('conserves blocks under random grow/release sequences', () => {
    const kv = new KvBlockManager(500, 16);
    const rng = new Rng(5, 'kv');
    const tokens = new Map<number, number>();
    for (let step = 0; step < 5000; step++) {
      const seq = rng.int(0, 40);
      if (rng.uniform() < 0.3) {
        kv.release(seq, step);
        tokens.delete(seq);
      } else {
        const t = (tokens.get(seq) ?? 0) + rng.int(1, 200);
        if (kv.grow(seq, t, step)) tokens.set(seq, t);
      }
      let held = 0;
      let exact = true;
      for (const [s, t] of tokens) {
        exact &&= kv.heldBy(s) === Math.ceil(t / 16);
        held += kv.heldBy(s);
      }
      if (!kv.conserved() || !exact || kv.usedBlocks !== held) throw new Error(`KV accounting broken at step ${step}`);
    }
    expect(kv.conserved()).toBe(true);
  });

  it('refuses growth beyond capacity without changing anything', () => {
    const kv = new KvBlockManager(10, 16);
    expect(kv.grow(1, 16 * 8, 0)).toBe(true);
    expect(kv.grow(2, 16 * 3, 0)).toBe(false);
    expect(kv.freeBlocks).toBe(2);
    expect(kv.release(1, 10)).toBe(8);
    expect(kv.utilisation(20)).toBeCloseTo(0.4, 6);
  });
});
