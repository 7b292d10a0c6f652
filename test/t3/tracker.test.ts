import { describe, expect, it } from 'vitest';
import { Tracker, type CompletionPath, type TrackedChunk } from '../../src/hw/t3/tracker.js';

/** Deterministic shuffle (LCG) so the interleavings are reproducible. */
function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('T3 tracker', () => {
  const chunks: TrackedChunk[] = [
    { id: 0, firstTile: 0, endTile: 10, local: true, upstream: true },
    { id: 1, firstTile: 10, endTile: 25, local: true, upstream: true },
    { id: 2, firstTile: 25, endTile: 30, local: true, upstream: false },
  ];

  it('fires each chunk exactly once, only after all its local stores and upstream updates', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const fired: Array<{ id: number; path: CompletionPath; after: number }> = [];
      let step = 0;
      const t = new Tracker({ capacity: 1000, overflow: 'stall', tiles: 30, chunks, onChunkComplete: (c, path) => fired.push({ id: c.id, path, after: step }) });
      // Every tile's local store and (where expected) upstream update, in batches of 1-3 tiles, shuffled.
      const events: Array<{ side: 'local' | 'up'; a: number; b: number }> = [];
      for (const c of chunks) {
        for (let a = c.firstTile; a < c.endTile; a += 2) {
          const b = Math.min(c.endTile, a + 2);
          events.push({ side: 'local', a, b });
          if (c.upstream) events.push({ side: 'up', a, b });
        }
      }
      const order = shuffled(events, seed);
      const lastEvent = new Map<number, number>();
      order.forEach((e, i) => {
        const c = chunks.find((x) => e.a >= x.firstTile && e.a < x.endTile)!;
        lastEvent.set(c.id, i);
      });
      for (const e of order) {
        if (e.side === 'local') {
          expect(t.claim(e.a, e.b)).toBe(true);
          t.localStore(e.a, e.b);
        } else t.upstream(e.a, e.b);
        step++;
      }
      expect(fired.map((f) => f.id).sort()).toEqual([0, 1, 2]);
      for (const f of fired) {
        expect(f.path).toBe('trigger');
        // It fired on the chunk's very last event (step counts events done before the callback).
        expect(f.after).toBe(lastEvent.get(f.id));
      }
      expect(t.entriesUsed).toBe(0);
      expect(t.allFired()).toBe(true);
    }
  });

  it('rejects a second store of the same tile (counting bugs are loud)', () => {
    const t = new Tracker({ capacity: 8, overflow: 'stall', tiles: 30, chunks, onChunkComplete: () => {} });
    t.claim(0, 2);
    t.localStore(0, 2);
    expect(() => t.localStore(0, 2)).toThrow(/twice/);
  });

  it('stalls the producer when the table is full and upstream data will free entries', () => {
    const t = new Tracker({ capacity: 4, overflow: 'stall', tiles: 30, chunks, onChunkComplete: () => {} });
    expect(t.claim(0, 4)).toBe(true);
    t.localStore(0, 4); // 4 tiles wait for upstream; the table is full
    // The upstream copy of the chunk fell back: its data comes after that kernel ends, so waiting
    // could chain kernels end to end: the batch falls back instead (two tiles untracked).
    t.feedDeferred(0);
    expect(t.claim(4, 6)).toBe(true);
    expect(t.stats.overflowTiles).toBe(2);
    const u = new Tracker({ capacity: 4, overflow: 'stall', tiles: 30, chunks, onChunkComplete: () => {} });
    u.claim(0, 4);
    u.localStore(0, 4);
    expect(u.claim(4, 6)).toBe(false);
    expect(u.producerStalled).toBe(true);
    let woke = 0;
    u.whenFreed(() => woke++);
    u.upstream(0, 2); // two tiles complete: entries free
    expect(woke).toBe(1);
    expect(u.claim(4, 6)).toBe(true);
  });

  it('falls back on overflow: the chunk loses its trigger and completes after the producer ends', () => {
    const fired: CompletionPath[] = [];
    const t = new Tracker({ capacity: 4, overflow: 'fallback', tiles: 30, chunks: [chunks[0]!], onChunkComplete: (_c, p) => fired.push(p) });
    for (let a = 0; a < 10; a += 2) {
      expect(t.claim(a, a + 2)).toBe(true);
      t.localStore(a, a + 2);
    }
    expect(t.stats.fallbackChunks).toBe(1);
    t.upstream(0, 10);
    expect(fired).toEqual([]); // data complete, but the trigger was lost
    t.producerFinished();
    expect(fired).toEqual(['fallback']);
  });

  it('lets a DMA deliver only tiles the producer has claimed', () => {
    const t = new Tracker({ capacity: 100, overflow: 'stall', tiles: 30, chunks, onChunkComplete: () => {} });
    expect(t.claimed(0, 2)).toBe(false);
    t.claim(0, 2);
    expect(t.claimed(0, 2)).toBe(true);
    expect(t.claimed(25, 30)).toBe(false);
    expect(t.claimed(30, 30)).toBe(true);
  });
});
