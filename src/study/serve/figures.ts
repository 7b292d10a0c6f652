import type { VegaLiteSpec } from '../../plot/render.js';

/** Figures of the serving study (Vega-Lite specs; rendered to SVG by src/plot/render.ts). */
type Row = Record<string, string | number | boolean>;

const FACETS = {
  row: { field: 'model', type: 'nominal', title: null },
  column: { field: 'workload', type: 'nominal', title: null },
} as const;

/** Latency percentiles (p50 solid, p95 dashed) vs request rate, one line per policy. */
export function latencyFigure(rows: Row[], metric: 'ttft' | 'itl' | 'tpot', title: string): VegaLiteSpec {
  const values: Row[] = [];
  for (const r of rows) {
    if (r.mode !== 'rate') continue;
    for (const p of ['p50', 'p95'] as const) {
      const v = Number(r[`${metric}_${p}_ms`]);
      if (Number.isFinite(v) && v > 0) values.push({ model: r.model!, workload: r.workload!, policy: r.policy!, rate_req_s: r.rate_req_s!, percentile: p, latency_ms: v });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: FACETS,
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 200,
      height: 150,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'rate_req_s', type: 'quantitative', title: 'request rate (req/s)' },
        y: { field: 'latency_ms', type: 'quantitative', scale: { type: 'log' }, title: `${metric.toUpperCase()} (ms)` },
        color: { field: 'policy', type: 'nominal' },
        strokeDash: { field: 'percentile', type: 'nominal' },
      },
    },
  } as VegaLiteSpec;
}

/** Goodput (req/s at which the target share of requests meets both SLOs) per policy. */
export function goodputFigure(rows: Row[], title: string): VegaLiteSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values: rows },
    facet: FACETS,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 160,
      height: 140,
      mark: 'bar',
      encoding: {
        x: { field: 'policy', type: 'nominal', title: null, axis: { labelAngle: -30 } },
        y: { field: 'goodput_req_s', type: 'quantitative', title: 'goodput (req/s)' },
        color: { field: 'policy', type: 'nominal', legend: null },
      },
    },
  } as VegaLiteSpec;
}

/** The ARM's CU split over time (CUs per GPU given to decode and to prefill) in one rapid run per panel. */
export function cuSplitFigure(timeline: Row[], title: string): VegaLiteSpec {
  const values: Row[] = [];
  // Two rapid policies in one study (two option sets) are told apart by dash; one keeps solid lines.
  const byPolicy = new Set(timeline.map((t) => t.policy)).size > 1;
  for (const t of timeline) {
    const policy: Row = byPolicy ? { policy: t.policy! } : {};
    values.push({ model: t.model!, workload: t.workload!, ...policy, time_s: t.time_s!, stream: 'decode', cus: t.decode_cus! });
    values.push({ model: t.model!, workload: t.workload!, ...policy, time_s: t.time_s!, stream: 'prefill', cus: t.prefill_cus! });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: FACETS,
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 220,
      height: 120,
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'time_s', type: 'quantitative', title: 'time (s)' },
        y: { field: 'cus', type: 'quantitative', title: 'CUs per GPU' },
        color: { field: 'stream', type: 'nominal' },
        ...(byPolicy ? { strokeDash: { field: 'policy', type: 'nominal' } } : {}),
      },
    },
  } as VegaLiteSpec;
}
