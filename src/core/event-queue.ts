/**
 * Binary min-heap of timed events. Ties in time are broken by a monotonically increasing
 * sequence number, so two runs that schedule the same events in the same order pop them in the
 * same order: determinism does not depend on heap internals.
 */
export interface TimedEvent {
  timeNs: number;
  seq: number;
  fire: () => void;
}

export class EventQueue {
  private heap: TimedEvent[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(timeNs: number, fire: () => void): TimedEvent {
    const event = { timeNs, seq: this.nextSeq++, fire };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = event;
    return event;
  }

  peekTimeNs(): number {
    return this.heap.length ? this.heap[0]!.timeNs : Infinity;
  }

  pop(): TimedEvent | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && before(heap[r]!, heap[l]!) ? r : l;
        if (!before(heap[child]!, last)) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.timeNs < b.timeNs || (a.timeNs === b.timeNs && a.seq < b.seq);
}
