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

  it('popFire hands back the earliest callback, ties in push order, through pushes between pops', () => {
    const rng = new Rng(11);
    const q = new EventQueue();
    // The reference: a plain list searched for the earliest (time, push number) at each pop.
    const pending: Array<{ t: number; id: number }> = [];
    const popped: number[] = [];
    const expected: number[] = [];
    const popBoth = () => {
      let best = 0;
      for (let i = 1; i < pending.length; i++) if (pending[i]!.t < pending[best]!.t || (pending[i]!.t === pending[best]!.t && pending[i]!.id < pending[best]!.id)) best = i;
      expected.push(pending.splice(best, 1)[0]!.id);
      q.popFire()!();
    };
    let pushed = 0;
    for (let round = 0; round < 50; round++) {
      // Coarse times: many ties, which only the push order breaks.
      for (let i = 0; i < 40; i++, pushed++) {
        const t = Math.floor(rng.uniform() * 20) + round;
        const id = pushed;
        q.push(t, () => popped.push(id));
        pending.push({ t, id });
      }
      for (let i = 0; i < 30; i++) popBoth();
    }
    while (q.size) popBoth();
    expect(q.popFire()).toBeUndefined();
    expect(popped).toEqual(expected);
    expect(popped.length).toBe(pushed);
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
