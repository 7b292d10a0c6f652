import type { GemmShape } from '../../kernels/gemm.js';
import type { ConfigResult } from './configs.js';
import { LARGE_MODELS } from './published.js';
import { PASS_OF, type Sublayer } from './sublayers.js';

/**
 * Tidy rows of the T3 study (one per hardware x model x TP x sub-layer x configuration) and the
 * headline figures computed from them. Ratios are against the same sub-layer's sequential run.
 */
export type Row = Record<string, string | number | boolean>;

export interface CaseKey {
  hw: string;
  model: string;
  tp: number;
  sublayer: Sublayer;
  tokens: number;
}

export function resultRows(key: CaseKey, shape: GemmShape, results: readonly ConfigResult[], sequential: ConfigResult): Row[] {
  const seqBytes = sequential.dram_read_bytes + sequential.dram_write_bytes;
  return results.map((r) => {
    const bytes = r.dram_read_bytes + r.dram_write_bytes;
    return {
      hw: key.hw,
      model: key.model,
      tp: key.tp,
      sublayer: key.sublayer,
      pass: PASS_OF[key.sublayer],
      tokens: key.tokens,
      m: shape.m,
      n: shape.n,
      k: shape.k,
      configuration: r.configuration,
      time_us: r.time_us,
      speedup_vs_sequential: sequential.time_us / r.time_us,
      gemm_end_us: r.gemm_us,
      rs_end_us: r.rs_end_us,
      ag_us: r.ag_us,
      dram_read_bytes: r.dram_read_bytes,
      dram_write_bytes: r.dram_write_bytes,
      dram_update_bytes: r.dram_update_bytes,
      gemm_read_bytes: r.gemm_read_bytes,
      rs_read_bytes: r.rs_read_bytes,
      dram_bytes: bytes,
      data_movement_vs_sequential: bytes / seqBytes,
      link_bytes: r.link_bytes,
      tracker_max_entries: r.tracker_max_entries ?? '',
      tracker_fallback_chunks: r.tracker_fallback_chunks ?? '',
      producer_stall_us: r.producer_stall_us ?? '',
      first_stage_dram_util: r.first_stage_dram_util ?? '',
    };
  });
}

export function geomean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

const num = (r: Row, c: string) => r[c] as number;

/** Headline figures of one hardware's rows: geomean/max speedup and data-movement reduction per configuration. */
export function headline(rows: readonly Row[]): Record<string, unknown> {
  const configs = [...new Set(rows.map((r) => r.configuration as string))];
  const by = (c: string, pred: (r: Row) => boolean = () => true) => rows.filter((r) => r.configuration === c && pred(r));
  const speedup: Record<string, number> = {};
  const maxSpeedup: Record<string, number> = {};
  const dmReduction: Record<string, number> = {};
  const maxDmReduction: Record<string, number> = {};
  const largeSpeedup: Record<string, number> = {};
  for (const c of configs) {
    const rs = by(c);
    speedup[c] = geomean(rs.map((r) => num(r, 'speedup_vs_sequential'))) - 1;
    maxSpeedup[c] = Math.max(...rs.map((r) => num(r, 'speedup_vs_sequential'))) - 1;
    dmReduction[c] = 1 - geomean(rs.map((r) => num(r, 'data_movement_vs_sequential')));
    maxDmReduction[c] = 1 - Math.min(...rs.map((r) => num(r, 'data_movement_vs_sequential')));
    const large = by(c, (r) => LARGE_MODELS.includes(r.model as string));
    if (large.length) largeSpeedup[c] = geomean(large.map((r) => num(r, 'speedup_vs_sequential'))) - 1;
  }
  // Where the data movement goes: GEMM reads vs the reduce-scatter's reads, sequential vs T3-MCA.
  const ratio = (c: string, f: (r: Row) => number) => {
    const pairs = by(c).map((r) => {
      const seq = rows.find((x) => x.configuration === 'sequential' && x.model === r.model && x.tp === r.tp && x.sublayer === r.sublayer && x.hw === r.hw);
      return seq ? f(seq) / f(r) : NaN;
    });
    return geomean(pairs.filter((x) => Number.isFinite(x) && x > 0));
  };
  const readSplit = configs.includes('t3-mca') && configs.includes('sequential')
    ? {
        gemm_read_reduction_x: ratio('t3-mca', (r) => num(r, 'gemm_read_bytes')),
        rs_read_reduction_x: ratio('t3-mca', (r) => num(r, 'rs_read_bytes')),
      }
    : {};
  return {
    cases: new Set(rows.map((r) => `${r.model}/${r.tp}/${r.sublayer}`)).size,
    geomean_speedup: speedup,
    max_speedup: maxSpeedup,
    data_movement_reduction_geomean: dmReduction,
    data_movement_reduction_max: maxDmReduction,
    large_models_geomean_speedup: largeSpeedup,
    ...readSplit,
  };
}
