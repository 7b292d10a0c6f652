import type { HardwareConfig } from '../../hw/config/schema.js';
import type { Dtype } from '../../hw/config/schema.js';
import { hbmBytesPerNs, matrixFlopsPerNsPerCu, vectorFlopsPerNsPerCu } from '../../hw/gpu/kernel-timing.js';
import { OP_CATEGORIES } from '../../kernels/types.js';
import type { VegaLiteSpec } from '../../plot/render.js';

/**
 * The study's figures as Vega-Lite specs (rendered to SVG by src/plot/render.ts). Each takes the
 * tidy rows the CSVs hold, so a figure can be redrawn from the CSV alone.
 */
type Row = Record<string, string | number | boolean>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = { font: 'sans-serif', axis: { labelLimit: 180 }, legend: { labelLimit: 320 } };
const CATEGORY_COLORS = { domain: [...OP_CATEGORIES], range: ['#4c78a8', '#72b7b2', '#f58518', '#e45756', '#eeca3b', '#b279a2', '#54a24b', '#9d755d'] };

/** Stacked time per category, fp32 vs mixed, one panel per model x sequence (columns) and hardware (rows). */
export function breakdownFigure(breakdown: Row[]): VegaLiteSpec {
  return categoryStack(breakdown, {
    title: 'Where a BERT training iteration goes: fp32 vs mixed precision',
    bar: (r) => String(r.precision),
    column: (r) => `${r.model} seq ${r.seq}`,
    row: (r) => String(r.hw),
    rowTitle: 'hardware',
  });
}

/** What each kernel fusion saves: stacked time per category, one bar per fusion, a panel per precision x sequence. */
export function fusionFigure(breakdown: Row[]): VegaLiteSpec {
  const fused = (r: Row) => (r.fuse_bias_act ? (r.flash_attention ? 'both' : 'bias+act') : r.flash_attention ? 'attention' : 'none');
  const first = breakdown[0];
  return categoryStack(breakdown, {
    title: `What kernel fusion saves (${first?.model}, batch ${first?.batch}, ${first?.hw})`,
    bar: fused,
    barOrder: ['none', 'bias+act', 'attention', 'both'],
    barTitle: 'fused kernels',
    column: (r) => `${r.precision}, seq ${r.seq}`,
    row: (r) => `${r.model}, ${r.hw}`,
    rowTitle: null,
  });
}

/** Iteration time stacked by category: one bar per `bar` value, panels by `column` and `row` (each y scale its own). */
function categoryStack(breakdown: Row[], o: { title: string; bar: (r: Row) => string; barOrder?: string[]; barTitle?: string; column: (r: Row) => string; row: (r: Row) => string; rowTitle: string | null }): VegaLiteSpec {
  const sums = new Map<string, Row>();
  for (const r of breakdown) {
    const cell = { row: o.row(r), column: o.column(r), bar: o.bar(r), category: r.category };
    const key = JSON.stringify(cell);
    const s = sums.get(key) ?? { ...cell, category_order: OP_CATEGORIES.indexOf(r.category as (typeof OP_CATEGORIES)[number]), time_ms: 0 };
    s.time_ms = (s.time_ms as number) + (r.time_us as number) / 1e3;
    sums.set(key, s);
  }
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: [...sums.values()] },
    facet: { row: { field: 'row', type: 'nominal', title: o.rowTitle, sort: null }, column: { field: 'column', type: 'nominal', title: null, sort: null } },
    spec: {
      width: 150,
      height: 160,
      mark: 'bar',
      encoding: {
        x: { field: 'bar', type: 'nominal', sort: o.barOrder ?? null, title: o.barTitle ?? null },
        y: { field: 'time_ms', type: 'quantitative', stack: 'zero', title: 'iteration time (ms)' },
        color: { field: 'category', type: 'nominal', scale: CATEGORY_COLORS, sort: [...OP_CATEGORIES], title: 'category' },
        order: { field: 'category_order', type: 'quantitative' },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: CONFIG,
  } as unknown as VegaLiteSpec;
}

function lineFigure(rows: Row[], x: string, y: string, series: string, title: string, xTitle: string, yTitle: string, logX: boolean): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    title,
    data: { values: rows.map((r) => ({ [x]: r[x], [y]: r[y], series: r[series] })) },
    width: 380,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle, scale: logX ? { type: 'log', base: 2 } : { zero: false }, axis: logX ? { values: [...new Set(rows.map((r) => r[x]))] } : {} },
      y: { field: y, type: 'quantitative', title: yTitle, axis: { format: '%' } },
      color: { field: 'series', type: 'nominal', title: null, sort: null },
    },
    config: CONFIG,
  } as unknown as VegaLiteSpec;
}

export function memoryBoundFigure(rows: Row[]): VegaLiteSpec {
  const values = rows.map((r) => ({ ...r, series: `${r.precision}, seq ${r.seq}` }));
  return lineFigure(values, 'batch', 'memory_bound_share', 'series', `Memory-bound share of the iteration vs per-GPU batch (${rows[0]?.model}, ${rows[0]?.hw})`, 'per-GPU batch (sequences)', 'memory-bound kernels (share of iteration)', true);
}

export function optimizerFigure(rows: Row[]): VegaLiteSpec {
  return lineFigure(rows, 'micro_batches', 'optimizer_share', 'optimizer', `Optimizer share vs micro-batches per step (${rows[0]?.model}, batch ${rows[0]?.batch}, ${rows[0]?.hw})`, 'micro-batches per optimizer step', 'optimizer (share of iteration)', true);
}

export function communicationFigure(rows: Row[]): VegaLiteSpec {
  const values = rows.map((r) => ({ ...r, series: r.overlap ? 'all-reduce overlapped with backward' : 'all-reduce after backward' }));
  return lineFigure(values, 'dp', 'communication_share', 'series', `Exposed communication vs data-parallel GPUs (${rows[0]?.model}, batch ${rows[0]?.batch}/GPU, ${rows[0]?.hw})`, 'data-parallel GPUs', 'communication (share of iteration)', true);
}

export function bucketFigure(rows: Row[]): VegaLiteSpec {
  const values = rows.map((r) => ({ ...r, series: `DP ${r.dp}` }));
  return lineFigure(values, 'bucket_mb', 'communication_share', 'series', `Exposed communication vs gradient bucket size (${rows[0]?.model}, batch ${rows[0]?.batch}/GPU, ${rows[0]?.hw})`, "gradient bucket (MiB; PyTorch DDP's default 25)", 'communication (share of iteration)', true);
}

/** Roofline of one configuration: every GEMM and memory-bound kernel, under the part's roofs. */
export function rooflineFigure(points: Row[], hw: HardwareConfig, dtype: Dtype, title: string): VegaLiteSpec {
  const bwGbps = hbmBytesPerNs(hw);
  const matrixTflops = (matrixFlopsPerNsPerCu(hw, dtype) * hw.compute.cus) / 1e3;
  const vectorTflops = (vectorFlopsPerNsPerCu(hw, dtype) * hw.compute.cus) / 1e3;
  const ais = points.map((p) => p.arithmetic_intensity_flop_per_byte as number);
  const lo = 10 ** Math.floor(Math.log10(Math.min(0.05, ...ais)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(2000, ...ais)));
  const roof: Row[] = [];
  for (const [name, peak] of [[`${dtype} matrix peak`, matrixTflops], [`${dtype} vector peak`, vectorTflops]] as const) {
    const ridge = (peak * 1e3) / bwGbps;
    for (const ai of [lo, ridge, hi]) roof.push({ roof: name, arithmetic_intensity_flop_per_byte: ai, tflops: Math.min(peak, (ai * bwGbps) / 1e3) });
  }
  return {
    $schema: SCHEMA,
    title,
    width: 460,
    height: 320,
    layer: [
      {
        data: { values: roof },
        mark: { type: 'line', strokeDash: [4, 3], color: '#888' },
        encoding: {
          x: { field: 'arithmetic_intensity_flop_per_byte', type: 'quantitative', scale: { type: 'log' }, title: 'arithmetic intensity (FLOP/byte of DRAM traffic)' },
          y: { field: 'tflops', type: 'quantitative', scale: { type: 'log' }, title: 'achieved TFLOP/s' },
          detail: { field: 'roof', type: 'nominal' },
        },
      },
      {
        data: { values: roof.filter((r) => r.arithmetic_intensity_flop_per_byte === hi) },
        mark: { type: 'text', align: 'right', dy: -7, color: '#555' },
        encoding: {
          x: { field: 'arithmetic_intensity_flop_per_byte', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'tflops', type: 'quantitative', scale: { type: 'log' } },
          text: { field: 'roof', type: 'nominal' },
        },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 50, opacity: 0.8 },
        encoding: {
          x: { field: 'arithmetic_intensity_flop_per_byte', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'achieved_tflops', type: 'quantitative', scale: { type: 'log' } },
          color: { field: 'category', type: 'nominal', scale: CATEGORY_COLORS, title: 'category' },
          shape: { field: 'kind', type: 'nominal', title: 'kernel' },
          tooltip: [{ field: 'kernel' }, { field: 'pass' }],
        },
      },
    ],
    config: CONFIG,
  } as unknown as VegaLiteSpec;
}
