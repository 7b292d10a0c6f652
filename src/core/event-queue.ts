/**
 * Binary min-heap of timed events. Ties in time are broken by a monotonically increasing
 * sequence number, so two runs that schedule the same events in the same order pop them in the
 * same order: determinism does not depend on heap internals.
 *
 * The heap is kept as parallel arrays (times and sequence numbers in typed arrays, callbacks in a
 * plain array), not an object per event: a simulation schedules events by the million (a memory
 * controller's sample every few hundred ns, each GPU's kernel ends), and an object each was a
 * steady share of the garbage collector's work. The order is the same (time, then sequence).
 */
export interface TimedEvent {
  timeNs: number;
  seq: number;
  fire: () => void;
}

export class EventQueue {
  private times = new Float64Array(64);
  /** Sequence numbers as doubles: exact to 2^53, past any run's count of events. */
  private seqs = new Float64Array(64);
  private fires: Array<(() => void) | undefined> = [];
  private n = 0;
  private nextSeq = 0;

  get size(): number {
    return this.n;
  }

  push(timeNs: number, fire: () => void): void {
    if (this.n === this.times.length) this.grow();
    const seq = this.nextSeq++;
    const { times, seqs, fires } = this;
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const tp = times[parent]!;
      if (!(timeNs < tp || (timeNs === tp && seq < seqs[parent]!))) break;
      times[i] = tp;
      seqs[i] = seqs[parent]!;
      fires[i] = fires[parent];
      i = parent;
    }
    times[i] = timeNs;
    seqs[i] = seq;
    fires[i] = fire;
  }

  peekTimeNs(): number {
    return this.n ? this.times[0]! : Infinity;
  }

  /** Removes the earliest event and returns its callback (the event loop's path: no object). */
  popFire(): (() => void) | undefined {
    if (this.n === 0) return undefined;
    const fire = this.fires[0]!;
    this.removeTop();
    return fire;
  }

  /** Removes the earliest event and returns it as an object (for callers that want its time and order). */
  pop(): TimedEvent | undefined {
    if (this.n === 0) return undefined;
    const event = { timeNs: this.times[0]!, seq: this.seqs[0]!, fire: this.fires[0]! };
    this.removeTop();
    return event;
  }

  private removeTop(): void {
    const { times, seqs, fires } = this;
    const n = --this.n;
    // The last entry sifts down from the root.
    const t = times[n]!;
    const s = seqs[n]!;
    const f = fires[n];
    fires[n] = undefined; // releases the callback's closure
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && (times[r]! < times[l]! || (times[r] === times[l] && seqs[r]! < seqs[l]!)) ? r : l;
      const tc = times[child]!;
      if (!(tc < t || (tc === t && seqs[child]! < s))) break;
      times[i] = tc;
      seqs[i] = seqs[child]!;
      fires[i] = fires[child];
      i = child;
    }
    times[i] = t;
    seqs[i] = s;
    fires[i] = f;
  }

  private grow(): void {
    const times = new Float64Array(this.times.length * 2);
    times.set(this.times);
    this.times = times;
    const seqs = new Float64Array(this.seqs.length * 2);
    seqs.set(this.seqs);
    this.seqs = seqs;
  }
}
