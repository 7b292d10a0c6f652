import { OP_CATEGORIES } from '../../kernels/types.js';
import { categoryShare, type IterationResult } from './iteration.js';
import { pointColumns, pointGpus, pointMemory } from './point.js';

type Row = Record<string, string | number | boolean>;

/**
 * The study's main table (results.csv): one row per configuration. Memory columns, then the GPU
 * count and throughput per GPU, come last, so tables written before they existed keep their column
 * order.
 */
export function resultRow(study: string, r: IterationResult, steps: number, hw: { gpusPerNode: number; hbmBytes: number }): Row {
  const row: Row = {
    study,
    ...pointColumns(r.point),
    nodes: Math.ceil(pointGpus(r.point) / hw.gpusPerNode),
    iteration_us: r.iterationNs / 1e3,
    samples_per_s: r.samplesPerSecond,
    time_to_train_h: (steps * r.iterationNs) / 3.6e12,
  };
  for (const c of OP_CATEGORIES) row[`${c}_share`] = categoryShare(r, c);
  Object.assign(row, iterationFigures(r));
  const memory = pointMemory(r.point);
  Object.assign(row, { memory_bytes: memory.totalBytes, model_state_bytes: memory.modelStateBytes, activation_bytes: memory.activationBytes, fits_hbm: memory.totalBytes <= hw.hbmBytes });
  // Last, as the memory columns: what compares configurations of different parallelism.
  Object.assign(row, { gpus: pointGpus(r.point), samples_per_s_per_gpu: r.samplesPerSecond / pointGpus(r.point) });
  // Empty cells on parts without a power model.
  const energy = energyFigures(r);
  Object.assign(row, { avg_board_power_w: energy?.avg_board_power_w ?? NaN, energy_per_sample_j: energy?.energy_per_sample_j ?? NaN });
  return row;
}

/**
 * Board power and energy of the iteration, on parts with a power model: every GPU's energy over
 * one iteration, one GPU's mean board power, and the energy per training sample.
 */
export function energyFigures(r: IterationResult): { board_energy_j: number; avg_board_power_w: number; energy_per_sample_j: number } | undefined {
  if (r.boardEnergyJ === undefined) return undefined;
  const allJ = r.boardEnergyJ * pointGpus(r.point);
  return { board_energy_j: allJ, avg_board_power_w: r.boardEnergyJ / (r.iterationNs * 1e-9), energy_per_sample_j: allJ / r.samplesPerIteration };
}

/** The iteration's aggregate figures, shared by results.csv and `silica bert --json`. */
export function iterationFigures(r: IterationResult) {
  return {
    memory_bound_share: r.memoryBoundNs / r.iterationNs,
    compute_us: r.computeNs / 1e3,
    comm_busy_us: r.commBusyNs / 1e3,
    comm_exposed_us: r.commExposedNs / 1e3,
    flops: r.flops,
    matmul_flops: r.matmulFlops,
    dram_bytes: r.bytes,
    achieved_tflops: r.matmulFlops / r.iterationNs / 1e3,
  };
}

/** breakdown.csv: one row per configuration x category x pass. */
export function breakdownRows(study: string, r: IterationResult): Row[] {
  return r.cells.map((c) => ({
    study,
    ...pointColumns(r.point),
    category: c.category,
    pass: c.pass,
    time_us: c.timeNs / 1e3,
    flops: c.flops,
    dram_bytes: c.bytes,
    kernels: c.kernels,
    share: c.timeNs / r.iterationNs,
  }));
}

/** gemms.csv rows: every distinct GEMM (role, pass, shape) of one configuration. */
export function gemmRows(r: IterationResult): Row[] {
  const rows: Row[] = [];
  for (const k of r.kernels) {
    if (k.desc.op !== 'gemm') continue;
    rows.push({
      model: r.point.model,
      seq: r.point.seq,
      batch: r.point.batch,
      precision: r.point.precision,
      hw: r.point.hw,
      pass: k.pass,
      gemm: k.role,
      category: k.category,
      m: k.desc.m,
      n: k.desc.n,
      k: k.desc.k,
      gemm_batch: k.desc.batch ?? 1,
      dtype: k.desc.dtype,
      launches_per_iteration: k.count,
      flops: k.flops,
      dram_bytes: k.bytes,
      arithmetic_intensity_flop_per_byte: k.flops / k.bytes,
      time_us: k.timeNs / 1e3,
      achieved_tflops: k.flops / k.timeNs / 1e3,
      bound: k.bound,
    });
  }
  return rows;
}

/** Roofline points: every distinct kernel with FLOPs (GEMMs and memory-bound kernels) of one configuration. */
export function rooflineRows(r: IterationResult): Row[] {
  return r.kernels
    .filter((k) => k.flops > 0 && k.bytes > 0)
    .map((k) => ({
      kernel: k.role,
      pass: k.pass,
      category: k.category,
      kind: k.desc.op === 'gemm' ? (k.category === 'attention' ? 'attention GEMM' : 'GEMM') : 'memory-bound op',
      arithmetic_intensity_flop_per_byte: k.flops / k.bytes,
      achieved_tflops: k.flops / k.timeNs / 1e3,
      bound: k.bound,
    }));
}
