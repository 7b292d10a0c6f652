import { flagName, SilicaError } from '../core/errors.js';
import { DTYPE_BYTES, type Dtype, type HardwareConfig } from '../hw/config/schema.js';
import { makeCuLayout, type CuLayout } from '../hw/gpu/cu-layout.js';
import { firstNCus, type CuSet } from '../hw/gpu/cu-mask.js';
import { CuSetMemo } from '../hw/gpu/cu-set-memo.js';
import { gridRuns } from '../hw/gpu/dispatcher.js';
import { cuBytesPerNs, isolatedKernelNs } from '../hw/gpu/kernel-timing.js';
import type { KernelCost, OpCategory } from './types.js';

export interface GemmShape {
  m: number;
  n: number;
  k: number;
  /** Independent GEMMs in one launch (batched GEMM, e.g. attention's per-head products). */
  batch?: number;
  dtype: Dtype;
  /** Output dtype (defaults to the input dtype; fp32 accumulate-and-store when 'fp32'). */
  outDtype?: Dtype;
  name?: string;
  category?: OpCategory;
}

/**
 * GEMM as a BLAS library runs it: a grid of M x N macro-tiles, each workgroup looping over K.
 *
 * Tile choice mimics the libraries' heuristic: among the preset's macro-tiles pick the one with
 * the shortest estimated time, counting wave quantisation (ceil(tiles / CUs)), the work wasted on
 * padded edge tiles and the DRAM traffic the tile's reuse implies. Skinny problems that cannot
 * fill the part are split along K (split-K), as GEMV-like decode kernels are. The candidate set
 * (tiles x split factors) does not depend on the shape and each candidate's time is monotone in
 * M, N and K, so the chosen time is monotone too: no shape gets faster by growing. Except where a
 * CU's DRAM port binds (compute.dram_gbps_per_cu: the H100 and H200): a workgroup's port time is
 * its share of the kernel's DRAM bytes, so a tile row more spreads the same shared operand over
 * twice the SMs (an H100's 64x256x8192 fp8 GEMM takes 4.09 us, 65x256x8192 3.84 us). The second
 * row's SMs do load that operand, from the L2; what an L2 hit costs a port is not modelled.
 *
 * DRAM reads: if both operands fit in half of the last-level cache they are read once; otherwise
 * each wave of concurrently running tiles (a near-square block of pm x pn tiles, as an L2-friendly
 * swizzle makes it) streams pm row-panels of A and pn column-panels of B over K.
 */
const SPLIT_K_FACTORS = [1, 2, 4, 8, 16, 32];

interface TileChoice {
  tm: number;
  tn: number;
  splitK: number;
}

/**
 * What gemmCost keeps per (frozen) hardware config, all pure functions of it: its layout, its
 * default CU sets, and the tile choices already made, by CU set and shape. Sweeps, training graphs
 * and serving cost the same GEMM on the same CUs many times (the bench sweep: 1024 points, each
 * GEMM shape in 128 of them), and the search was a third of such a sweep's time; reusing a choice
 * changes no result. A config's choices are dropped whole past MAX_TILE_CHOICES, so a sweep of a
 * million distinct shapes does not grow them without bound.
 */
interface PerHardware {
  layout: CuLayout;
  byCount: Map<number, CuSet>;
  tiles: CuSetMemo<Map<string, TileChoice>>;
  tileCount: number;
}

const perHardware = new WeakMap<HardwareConfig, PerHardware>();
const MAX_TILE_CHOICES = 200_000;
const newTileMemo = () => new CuSetMemo(() => new Map<string, TileChoice>());

function entryFor(hw: HardwareConfig): PerHardware {
  let entry = perHardware.get(hw);
  if (!entry) {
    entry = { layout: makeCuLayout(hw.compute), byCount: new Map(), tiles: newTileMemo(), tileCount: 0 };
    perHardware.set(hw, entry);
  }
  return entry;
}

function cuSetFor(entry: PerHardware, hw: HardwareConfig, cus: number | CuSet | undefined): CuSet {
  if (typeof cus === 'object') return cus;
  const n = cus ?? hw.compute.cus;
  let set = entry.byCount.get(n);
  if (!set) {
    set = firstNCus(entry.layout, n);
    entry.byCount.set(n, set);
  }
  return set;
}

export function gemmCost(hw: HardwareConfig, shape: GemmShape, cus?: number | CuSet): KernelCost {
  const entry = entryFor(hw);
  const cuSet = cuSetFor(entry, hw, cus);
  const cuCount = cuSet.count;
  const { m, n, k } = shape;
  const batch = shape.batch ?? 1;
  positiveWhole('m', m);
  positiveWhole('n', n);
  positiveWhole('k', k);
  positiveWhole('batch', batch);
  const storeBytesPerNs = cuBytesPerNs(hw);
  const best = tileChoice(entry, hw, cuSet, shape, batch, storeBytesPerNs);
  const cost = newGemmCost();
  fillGemmCost(cost, hw, shape, batch, best.tm, best.tn, best.splitK, cuCount, storeBytesPerNs);
  cost.name = shape.name ?? `gemm_${m}x${n}x${k}${batch > 1 ? `_b${batch}` : ''}`;
  cost.category = shape.category ?? 'gemm';
  cost.shape = { m, n, k, batch, dtype: shape.dtype };
  cost.tile = [best.tm, best.tn];
  return cost;
}

function tileChoice(entry: PerHardware, hw: HardwareConfig, cuSet: CuSet, shape: GemmShape, batch: number, storeBytesPerNs: number): TileChoice {
  const byShape = entry.tiles.get(cuSet);
  const key = `${shape.m},${shape.n},${shape.k},${batch},${shape.dtype},${shape.outDtype ?? ''}`;
  let choice = byShape.get(key);
  if (!choice) {
    choice = searchTiles(hw, entry.layout, cuSet, shape, batch, storeBytesPerNs);
    if (++entry.tileCount > MAX_TILE_CHOICES) {
      entry.tiles = newTileMemo();
      entry.tileCount = 0;
    } else byShape.set(key, choice);
  }
  return choice;
}

/** The macro-tile and split-K factor with the shortest estimated time (the first of equals). */
function searchTiles(hw: HardwareConfig, layout: CuLayout, cuSet: CuSet, shape: GemmShape, batch: number, storeBytesPerNs: number): TileChoice {
  // Candidates are scored on one reused KernelCost: only the winner is built as a fresh object.
  const probe = newGemmCost();
  let bestNs = Infinity;
  const best: TileChoice = { tm: 0, tn: 0, splitK: 0 };
  const tiles = hw.compute.gemm_tiles;
  for (let t = 0; t < tiles.length; t++) {
    const tm = tiles[t]![0];
    const tn = tiles[t]![1];
    for (let s = 0; s < SPLIT_K_FACTORS.length; s++) {
      const splitK = SPLIT_K_FACTORS[s]!;
      fillGemmCost(probe, hw, shape, batch, tm, tn, splitK, cuSet.count, storeBytesPerNs);
      // A grid that reaches an XCD the mask leaves empty cannot run (dispatcher.ts): skip it, so a
      // small GEMM on one XCD's CUs takes a tile whose few workgroups stay there.
      if (!gridRuns(probe.workgroups, cuSet, layout, hw.compute)) continue;
      const estNs = isolatedKernelNs(hw, layout, cuSet, probe);
      if (best.splitK === 0 || estNs < bestNs * (1 - 1e-9)) {
        bestNs = estNs;
        best.tm = tm;
        best.tn = tn;
        best.splitK = splitK;
      }
    }
  }
  if (best.splitK === 0) {
    // No candidate's grid runs on this mask: time the first, whose dispatch error names the XCDs.
    fillGemmCost(probe, hw, shape, batch, tiles[0]![0], tiles[0]![1], 1, cuSet.count, storeBytesPerNs);
    isolatedKernelNs(hw, layout, cuSet, probe);
  }
  return best;
}

function positiveWhole(field: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new SilicaError(`gemm ${flagName(field)}: expected a positive whole number, got ${v}`);
}

function newGemmCost(): KernelCost {
  return {
    name: '',
    category: 'gemm',
    workgroups: 0,
    perWorkgroup: { matrixFlops: 0, vectorFlops: 0, cuBytes: 0, exposedNs: 0 },
    dtype: 'bf16',
    flops: 0,
    hbmReadBytes: 0,
    hbmWriteBytes: 0,
  };
}

/** Writes the figures of one tile x split-K choice into `out` (everything the timing model reads). */
function fillGemmCost(
  out: KernelCost,
  hw: HardwareConfig,
  shape: GemmShape,
  batch: number,
  tm: number,
  tn: number,
  splitK: number,
  cuCount: number,
  /** The CU's bandwidth at the matrix clock (cuBytesPerNs(hw)), hoisted out of the search. */
  storeBytesPerNs: number,
): void {
  const { m, n, k, dtype } = shape;
  const b = DTYPE_BYTES[dtype];
  const ob = DTYPE_BYTES[shape.outDtype ?? dtype];
  const tilesM = Math.ceil(m / tm);
  const tilesN = Math.ceil(n / tn);
  const tiles = tilesM * tilesN * batch;
  const kPerSplit = Math.ceil(k / splitK);

  const aBytes = m * k * b;
  const bBytes = k * n * b;
  const cacheBytes = hw.memory.llc?.bytes ?? hw.memory.l2.bytes;
  let readPerBatch: number;
  if (aBytes + bBytes <= cacheBytes / 2) {
    readPerBatch = aBytes + bBytes;
  } else {
    const concurrent = Math.min(tilesM * tilesN, cuCount);
    // Near-square block first, then widen whichever side the matrix does not cap.
    let pn = Math.min(tilesN, Math.max(1, Math.round(Math.sqrt((concurrent * tm) / tn))));
    const pm = Math.min(tilesM, Math.ceil(concurrent / pn));
    pn = Math.min(tilesN, Math.ceil(concurrent / pm));
    // Each block of pm x pn tiles reads its rows of A and its columns of B (edge blocks fewer, no
    // padding: loads past the matrix are masked): A once per block column, B once per block row.
    readPerBatch = Math.ceil(tilesN / pn) * aBytes + Math.ceil(tilesM / pm) * bBytes;
  }
  // Split-K partials are written in fp32 and reduced; the extra traffic is real.
  const partialBytes = splitK > 1 ? m * n * 4 * splitK * 2 : 0;
  out.workgroups = tiles * splitK;
  const w = out.perWorkgroup;
  w.matrixFlops = 2 * tm * tn * kPerSplit;
  w.vectorFlops = 0;
  w.cuBytes = (tm + tn) * kPerSplit * b + tm * tn * (splitK > 1 ? 4 : ob);
  // One tile per CU (its LDS/registers fill the CU), so nothing hides the first operand fetch
  // (a DRAM round trip) or the epilogue's store of the output tile at the CU's bandwidth.
  w.exposedNs = hw.memory.hbm.latency_ns + (tm * tn * (splitK > 1 ? 4 : ob)) / storeBytesPerNs;
  out.dtype = dtype;
  out.flops = 2 * m * n * k * batch;
  out.hbmReadBytes = readPerBatch * batch + partialBytes / 2;
  out.hbmWriteBytes = m * n * ob * batch + partialBytes / 2;
}
