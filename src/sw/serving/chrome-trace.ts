import type { LaneIteration } from './lane.js';

/**
 * A Chrome trace (Perfetto / chrome://tracing JSON) of the GPU streams of a serving run: one
 * complete event per iteration per GPU of the replica, `ts`/`dur` in microseconds, pid = GPU,
 * tid = stream (compute, prefill, decode, kv-transfer). Long runs are capped at `maxEvents` (the
 * count of events left out is written in the trace's metadata) so the file stays loadable.
 */
export interface ChromeEvent {
  name: string;
  ph: 'X' | 'M' | 'C';
  ts: number;
  dur?: number;
  pid: number;
  tid: number | string;
  args?: Record<string, number | string>;
}

export class ChromeTraceRecorder {
  readonly events: ChromeEvent[] = [];
  dropped = 0;
  private readonly threads = new Map<string, number>();

  constructor(readonly maxEvents = 200_000) {}

  private tid(gpu: number, stream: string): number {
    const key = `${gpu}|${stream}`;
    let t = this.threads.get(key);
    if (t === undefined) {
      t = ['compute', 'prefill', 'decode', 'kv-transfer', 'swap'].indexOf(stream);
      if (t < 0) t = 10 + this.threads.size;
      this.threads.set(key, t);
    }
    return t;
  }

  span(gpus: readonly number[], stream: string, name: string, startNs: number, endNs: number, args?: Record<string, number | string>): void {
    for (const gpu of gpus) {
      if (this.events.length >= this.maxEvents) {
        this.dropped++;
        continue;
      }
      this.events.push({ name, ph: 'X', ts: startNs / 1000, dur: (endNs - startNs) / 1000, pid: gpu, tid: this.tid(gpu, stream), args });
    }
  }

  iteration(gpus: readonly number[], stream: string, it: LaneIteration): void {
    // The engine's host phase (a what-if, host-overhead.ts) on a track of its own: CPU time the
    // stream's GPU work waited for.
    if (it.hostStartNs !== undefined) this.span(gpus, `${stream} host`, 'host', it.hostStartNs, it.startNs);
    this.span(gpus, stream, it.label, it.startNs, it.endNs, { cus: it.cus, ...(it.args ?? {}) });
  }

  /** Counter track (e.g. the CU split of the adaptive resource manager). */
  counter(gpu: number, name: string, atNs: number, values: Record<string, number>): void {
    if (this.events.length >= this.maxEvents) {
      this.dropped++;
      return;
    }
    this.events.push({ name, ph: 'C', ts: atNs / 1000, pid: gpu, tid: 0, args: values });
  }

  toJson(meta: Record<string, unknown> = {}): string {
    const names: ChromeEvent[] = [];
    const gpus = new Set<number>();
    for (const [key, tid] of [...this.threads.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const [gpu, stream] = key.split('|');
      gpus.add(Number(gpu));
      names.push({ name: 'thread_name', ph: 'M', ts: 0, pid: Number(gpu), tid, args: { name: stream! } });
    }
    for (const g of [...gpus].sort((a, b) => a - b)) names.push({ name: 'process_name', ph: 'M', ts: 0, pid: g, tid: 0, args: { name: `GPU ${g}` } });
    const body = [...names, ...this.events].map((e) => JSON.stringify(e)).join(',\n');
    return `{"displayTimeUnit":"ms","metadata":${JSON.stringify({ ...meta, events_dropped: this.dropped })},"traceEvents":[\n${body}\n]}\n`;
  }
}
