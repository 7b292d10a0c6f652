import { DTYPE_BYTES, type HardwareConfig } from '../config/schema.js';
import { makeCuLayout } from '../gpu/cu-layout.js';
import { firstNCus, type CuSet } from '../gpu/cu-mask.js';
import { matrixFlopsPerNsPerCu } from '../gpu/kernel-timing.js';
import { gemmCost, type GemmShape } from '../../kernels/gemm.js';
import type { KernelCost } from '../../kernels/types.js';

/**
 * The producer GEMM of a T3 sub-layer: gemm.ts's kernel (tile, split-K, CU work) with two
 * refinements the T3 study needs and gemm.ts deliberately leaves out.
 *
 * 1. Inter-wave input reuse and output pollution (why uncached outputs cut GEMM reads, ~1.56x in
 *    the published study, mission.md §2). gemm.ts charges every wave of concurrent tiles its own
 *    A row-panels and B column-panels. With the swizzled order it assumes (a pm x pn block of tiles
 *    per wave, blocks walked along one dimension), consecutive waves share one operand's panel;
 *    the panel is still in the last-level cache if what the wave touched in between — the other
 *    operand's panel and, when outputs are write-allocated, the wave's output tiles — left room:
 *      reused fraction f = clamp((cache - other panel - outputs) / kept panel, 0, 1)
 *    (a smooth stand-in for an LRU cliff: replacement in a real L2 is neither LRU nor exact).
 *    T3 writes the tracked output region uncached, so the outputs term vanishes: the effective
 *    cache capacity for inputs grows by one wave's output tiles, and that is the whole mechanism.
 *    The kept operand is whichever saves more. Sequential and T3 use the same model (cached vs
 *    uncached outputs), so the comparison does not depend on gemm.ts's coarser choice.
 * 2. Latency tolerance: how much loaded DRAM latency the main loop hides (latency.ts uses it).
 */
export interface ProducerGemm {
  kernel: KernelCost;
  /** Output tiles (M x N tiles; the tracker's unit). */
  tiles: number;
  /**
   * The finished output's bytes (M x N x batch in the output dtype): what the tiles hold once
   * complete, and all a ring forwards. A split-K kernel writes more (its fp32 partials, reduced in
   * place): that traffic stays in the producer's own HBM.
   */
  outputBytes: number;
  tilesM: number;
  tilesN: number;
  splitK: number;
  /** Input reuse between consecutive waves (0..1) of the kept operand's panel. */
  reuseFraction: number;
  /** Reads gemm.ts would charge (no inter-wave reuse), for reports. */
  gemmTsReadBytes: number;
}

export function producerGemm(hw: HardwareConfig, shape: GemmShape, options: { uncachedOutput: boolean; cus?: number | CuSet }): ProducerGemm {
  const base = gemmCost(hw, shape, options.cus);
  const [tm, tn] = base.tile!;
  const tilesM = Math.ceil(shape.m / tm);
  const tilesN = Math.ceil(shape.n / tn);
  const batch = shape.batch ?? 1;
  const tiles = tilesM * tilesN * batch;
  const splitK = Math.max(1, Math.round(base.workgroups / tiles));
  const outputBytes = shape.m * shape.n * batch * DTYPE_BYTES[shape.outDtype ?? shape.dtype];
  const out = { kernel: base, tiles, outputBytes, tilesM, tilesN, splitK, reuseFraction: 0, gemmTsReadBytes: base.hbmReadBytes };
  if (splitK > 1 || batch > 1) return out;

  const b = DTYPE_BYTES[shape.dtype];
  const ob = DTYPE_BYTES[shape.outDtype ?? shape.dtype];
  const { m, n, k } = shape;
  const cacheBytes = hw.memory.llc?.bytes ?? hw.memory.l2.bytes;
  if (m * k * b + k * n * b <= cacheBytes / 2) return out; // read once already
  const cuCount = typeof options.cus === 'object' ? options.cus.count : options.cus ?? hw.compute.cus;
  // The wave block as gemm.ts shapes it.
  const concurrent = Math.min(tilesM * tilesN, cuCount);
  let pn = Math.min(tilesN, Math.max(1, Math.round(Math.sqrt((concurrent * tm) / tn))));
  const pm = Math.min(tilesM, Math.ceil(concurrent / pn));
  pn = Math.min(tilesN, Math.ceil(concurrent / pm));
  const waves = Math.ceil((tilesM * tilesN) / (pm * pn));
  const aPanel = Math.min(pm * tm, m) * k * b;
  const bPanel = Math.min(pn * tn, n) * k * b;
  const outputs = options.uncachedOutput ? 0 : Math.min(pm * tm, m) * Math.min(pn * tn, n) * ob;
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  const fA = clamp((cacheBytes - bPanel - outputs) / aPanel);
  const fB = clamp((cacheBytes - aPanel - outputs) / bPanel);
  // Walking along N keeps A's panel for ceil(tilesN / pn) waves per block row; along M keeps B's.
  const savingA = Math.max(0, waves - Math.ceil(tilesM / pm)) * fA * aPanel;
  const savingB = Math.max(0, waves - Math.ceil(tilesN / pn)) * fB * bPanel;
  const keepA = savingA >= savingB;
  const saving = keepA ? savingA : savingB;
  const compulsory = m * k * b + k * n * b;
  const noReuse = Math.max(compulsory, waves * (aPanel + bPanel));
  const reads = Math.max(compulsory, noReuse - saving);
  // gemm.ts's split-K partial traffic is zero here (splitK = 1), so its reads are all operand reads.
  return { ...out, kernel: { ...base, hbmReadBytes: reads }, reuseFraction: keepA ? fA : fB };
}

/**
 * Loaded DRAM latency the producer's main loop hides: workgroups resident per CU (LDS-bound, at
 * most the waves allow and the grid provides) x iterations prefetched x one iteration's MFMA time;
 * `iterationNs` is that window per prefetched iteration. memory/latency.ts turns the excess of the
 * loaded latency over the window into stalls.
 */
export interface LatencyTolerance {
  hiddenNs: number;
  iterationNs: number;
}

export function latencyTolerance(hw: HardwareConfig, p: ProducerGemm, shape: GemmShape, cuCount: number): LatencyTolerance {
  const [tm, tn] = p.kernel.tile!;
  const kStep = hw.t3.gemm_k_step;
  const stages = hw.t3.gemm_prefetch_stages;
  const b = DTYPE_BYTES[shape.dtype];
  const mfmaNs = (2 * tm * tn * kStep) / matrixFlopsPerNsPerCu(hw, shape.dtype);
  const ldsPerWg = stages * (tm + tn) * kStep * b;
  // A 256-thread workgroup is 4 waves (wave64); waves per CU bound residency too.
  const wavesPerWg = Math.max(1, Math.ceil(256 / hw.compute.wave_size));
  const byLds = Math.max(1, Math.floor(hw.compute.lds_bytes_per_cu / ldsPerWg));
  const byWaves = Math.max(1, Math.floor(hw.compute.max_waves_per_cu / wavesPerWg));
  const byGrid = Math.max(1, Math.ceil(p.kernel.workgroups / cuCount));
  const resident = Math.min(byLds, byWaves, byGrid);
  // With `resident` workgroups sharing the CU, each one's iteration takes resident x mfmaNs.
  const iterationNs = resident * mfmaNs;
  return { hiddenNs: stages * iterationNs, iterationNs };
}

/** A CU set of the first n CUs (what the producer runs on when a collective holds the rest). */
export function producerCuSet(hw: HardwareConfig, cus: number): CuSet {
  return firstNCus(makeCuLayout(hw.compute), cus);
}
