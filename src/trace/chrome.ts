import type { ReplayRecord } from './replay.js';

/**
 * Chrome trace (Trace Event Format, JSON object form) of a replay, as Perfetto and
 * chrome://tracing open it: one complete ('X') event per node, `ts` and `dur` in microseconds,
 * pid = GPU (rank), tid = stream, with process_name / thread_name metadata events naming them.
 * Perfetto wants integer tids, so streams are numbered per GPU in order of first use and named
 * through thread_name. Where `clocks` gives a GPU's SM clock over time, it is a counter track ('C'
 * events) of that GPU: the power governor's clock (src/hw/gpu/power.ts), which sets how much
 * co-running kernels slow each other; a kernel alone keeps its calibrated time whatever it reads.
 */
export interface ChromeTrace {
  traceEvents: Array<Record<string, unknown>>;
  displayTimeUnit: 'ms' | 'ns';
  otherData: Record<string, string | number | boolean>;
}

/** Microseconds rounded to the nanosecond, so identical replays give identical files. */
const us = (ns: number) => Math.round(ns) / 1000;

export function chromeTrace(
  records: readonly ReplayRecord[],
  otherData: Record<string, string | number | boolean> = {},
  clocks: ReadonlyArray<ReadonlyArray<readonly [number, number]>> = [],
): ChromeTrace {
  const sorted = [...records].sort((a, b) => a.startNs - b.startNs || a.gpu - b.gpu || a.nodeId - b.nodeId);
  const tids = new Map<number, Map<string, number>>();
  const events: Array<Record<string, unknown>> = [];
  const body: Array<Record<string, unknown>> = [];
  for (const r of sorted) {
    let streams = tids.get(r.gpu);
    if (!streams) tids.set(r.gpu, (streams = new Map()));
    let tid = streams.get(r.stream);
    if (tid === undefined) streams.set(r.stream, (tid = streams.size + 1));
    const args: Record<string, unknown> = { node: r.nodeId, kind: r.kind, pass: r.pass };
    if (r.flops) args.flops = r.flops;
    if (r.hbmReadBytes || r.hbmWriteBytes) {
      args.hbm_read_bytes = r.hbmReadBytes;
      args.hbm_write_bytes = r.hbmWriteBytes;
    }
    if (r.cus) args.cus = r.cus;
    if (r.device === 'host') args.device = 'host';
    body.push({ name: r.name, cat: r.category, ph: 'X', ts: us(r.startNs), dur: us(r.endNs - r.startNs), pid: r.gpu, tid, args });
  }
  for (const gpu of [...tids.keys()].sort((a, b) => a - b)) {
    events.push({ name: 'process_name', ph: 'M', pid: gpu, tid: 0, args: { name: `GPU ${gpu}` } });
    events.push({ name: 'process_sort_index', ph: 'M', pid: gpu, tid: 0, args: { sort_index: gpu } });
    for (const [stream, tid] of tids.get(gpu)!) {
      events.push({ name: 'thread_name', ph: 'M', pid: gpu, tid, args: { name: stream } });
      events.push({ name: 'thread_sort_index', ph: 'M', pid: gpu, tid, args: { sort_index: tid } });
    }
  }
  clocks.forEach((steps, gpu) => {
    for (const [ns, mhz] of steps) body.push({ name: 'SM clock', ph: 'C', ts: us(ns), pid: gpu, args: { MHz: Math.round(mhz) } });
  });
  return { traceEvents: [...events, ...body], displayTimeUnit: 'ms', otherData };
}
