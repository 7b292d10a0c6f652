import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../src/core/event-queue.js';
import { Rng } from '../../src/core/rng.js';

describe('EventQueue', () => {
  it('pops in time order and breaks ties by insertion order', () => {
    const q = new EventQueue();
    const seen: string[] = [];
    q.push(5, () => seen.push('a'));
    q.push(1, () => seen.push('b'));
    q.push(5, () => seen.push('c'));
    q.push(3, () => seen.push('d'));
    q.push(1, () => seen.push('e'));
    while (q.size) q.pop()!.fire();
    expect(seen).toEqual(['b', 'e', 'd', 'a', 'c']);
  });

  it('stays ordered under random inserts', () => {
    const rng = new Rng(7);
    const q = new EventQueue();
    for (let i = 0; i < 2000; i++) q.push(Math.floor(rng.uniform() * 100), () => {});
    let last = -1;
    let lastSeq = -1;
    while (q.size) {
      const e = q.pop()!;
      expect(e.timeNs > last || (e.timeNs === last && e.seq > lastSeq)).toBe(true);
      last = e.timeNs;
      lastSeq = e.seq;
    }
  });
});

describe('Rng', () => {
  it('is deterministic per seed and stream, and streams are independent', () => {
    const a = new Rng(1, 'arrivals');
    const b = new Rng(1, 'arrivals');
    const c = new Rng(1, 'lengths');
    const da = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(da);
    expect(Array.from({ length: 5 }, () => c.uniform())).not.toEqual(da);
    for (const x of da) expect(x >= 0 && x < 1).toBe(true);
  });

  it('exponential draws have the right mean', () => {
    const r = new Rng(3);
    let sum = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) sum += r.exponential(2);
    expect(sum / n).toBeCloseTo(0.5, 1);
  });
});
