import type { UsageSegment } from '../../core/flow-network.js';
import { chartSpec } from '../../plot/charts.js';
import type { VegaLiteSpec } from '../../plot/render.js';
import type { Row } from './rows.js';

/**
 * The T3 study's figures as Vega-Lite specs (rendered to SVG by src/plot/render.ts):
 * speedup bars per sub-layer, data movement per configuration, the DRAM traffic timeline of one
 * sub-layer (T-NLG FC-2 by default) under sequential / t3 / t3-mca, and the sensitivity sweeps.
 */
export function speedupFigure(rows: readonly Row[]): VegaLiteSpec {
  const data = rows
    .filter((r) => r.configuration !== 'sequential')
    .map((r) => ({ case: `${r.model} tp${r.tp} ${r.sublayer}`, hw: r.hw, configuration: r.configuration, speedup_vs_sequential: r.speedup_vs_sequential }));
  const spec = chartSpec({
    rows: data,
    x: 'case',
    y: 'speedup_vs_sequential',
    color: 'configuration',
    facet: 'hw',
    columns: 1,
    mark: 'bar',
    width: Math.max(600, (9 * data.length) / Math.max(1, new Set(data.map((d) => d.hw)).size)),
    height: 260,
    title: 'T3 sub-layer speedup over sequential (GEMM, ring RS, AG)',
    xTitle: 'model, TP, sub-layer',
  });
  // Each hardware has its own cases: no shared (mostly empty) x axis.
  return { ...spec, resolve: { scale: { x: 'independent', xOffset: 'independent', y: 'shared' } } } as VegaLiteSpec;
}

/** Mean DRAM reads and writes per configuration, each as a fraction of the sequential total. */
export function dataMovementRows(rows: readonly Row[]): Row[] {
  const out: Row[] = [];
  const keyOf = (r: Row) => `${r.hw}|${r.model}|${r.tp}|${r.sublayer}`;
  const seq = new Map<string, Row>();
  for (const r of rows) if (r.configuration === 'sequential') seq.set(keyOf(r), r);
  const groups = new Map<string, { hw: string; configuration: string; reads: number[]; writes: number[] }>();
  for (const r of rows) {
    const s = seq.get(keyOf(r));
    if (!s) continue;
    const total = (s.dram_read_bytes as number) + (s.dram_write_bytes as number);
    const g = `${r.hw}|${r.configuration}`;
    if (!groups.has(g)) groups.set(g, { hw: r.hw as string, configuration: r.configuration as string, reads: [], writes: [] });
    groups.get(g)!.reads.push((r.dram_read_bytes as number) / total);
    groups.get(g)!.writes.push((r.dram_write_bytes as number) / total);
  }
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  for (const g of groups.values()) {
    out.push({ hw: g.hw, configuration: g.configuration, traffic: 'reads', dram_bytes_vs_sequential: mean(g.reads) });
    out.push({ hw: g.hw, configuration: g.configuration, traffic: 'writes (incl. updates)', dram_bytes_vs_sequential: mean(g.writes) });
    out.push({ hw: g.hw, configuration: g.configuration, traffic: 'total', dram_bytes_vs_sequential: mean(g.reads) + mean(g.writes) });
  }
  return out;
}

export function dataMovementFigure(rows: readonly Row[]): VegaLiteSpec {
  return chartSpec({
    rows: dataMovementRows(rows),
    x: 'configuration',
    y: 'dram_bytes_vs_sequential',
    color: 'traffic',
    facet: 'hw',
    mark: 'bar',
    columns: 2,
    title: 'DRAM traffic per configuration (mean over sub-layers, fraction of sequential total)',
  });
}

/** Resamples a usage timeline (bytes/ns) into `bins` equal bins: GB/s per bin. */
export function timelineBins(segments: readonly UsageSegment[], endNs: number, bins: number): Array<{ time_us: number; dram_gbps: number }> {
  const width = endNs / bins;
  const acc = new Float64Array(bins);
  for (const s of segments) {
    for (let b = Math.floor(s.startNs / width); b < bins && b * width < s.endNs; b++) {
      const lo = Math.max(s.startNs, b * width);
      const hi = Math.min(s.endNs, (b + 1) * width);
      if (hi > lo) acc[b]! += s.usage * (hi - lo);
    }
  }
  return Array.from(acc, (bytes, b) => ({ time_us: ((b + 0.5) * width) / 1000, dram_gbps: bytes / width }));
}

export function timelineFigure(rows: readonly Row[], title: string): VegaLiteSpec {
  return chartSpec({ rows, x: 'time_us', y: 'dram_gbps', color: 'configuration', mark: 'line', width: 720, height: 260, title, yTitle: 'GPU 0 DRAM channel traffic (GB/s, updates at their cost)' });
}

export function sensitivityFigure(rows: readonly Row[]): VegaLiteSpec {
  // Numeric variants (bandwidths, counts) on a numeric axis, each study on its own.
  const numeric = rows.every((r) => Number.isFinite(Number(r.variant)));
  const spec = chartSpec({
    rows: numeric ? rows.map((r) => ({ ...r, variant: Number(r.variant) })) : rows,
    x: 'variant',
    y: 'geomean_speedup',
    color: 'configuration',
    facet: 'study',
    mark: 'line',
    columns: 3,
    width: 260,
    height: 200,
    title: 'Sensitivity of the geomean sub-layer speedup (beyond the paper)',
  });
  return { ...spec, resolve: { scale: { x: 'independent', y: 'independent' } } } as VegaLiteSpec;
}

export function projectionFigure(rows: readonly Row[]): VegaLiteSpec {
  return chartSpec({
    rows: rows.map((r) => ({ ...r, case: `${r.model} ${r.phase}` })),
    x: 'case',
    y: 'speedup',
    color: 'configuration',
    mark: 'bar',
    width: 360,
    height: 220,
    title: 'End-to-end iteration speedup with each design on every eligible sub-layer',
  });
}
