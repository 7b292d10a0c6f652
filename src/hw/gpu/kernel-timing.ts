import { SilicaError } from '../../core/errors.js';
import type { KernelCost } from '../../kernels/types.js';
import { DTYPE_BYTES, type Dtype, type HardwareConfig } from '../config/schema.js';
import type { CuLayout } from './cu-layout.js';
import type { CuSet } from './cu-mask.js';
import { maxWorkgroupsPerCu, placeWorkgroups } from './dispatcher.js';
import { hbmKnee, hbmLoadShare, type HbmKnee } from '../memory/hbm-knee.js';
import { calibratedPower, clockUnderCapMhz, kernelDynamicW } from './power.js';

/**
 * Pure timing of one kernel on a CU set in isolation, the inputs the executor turns into a flow.
 *
 * One workgroup on an otherwise idle CU takes the longer of its arithmetic (matrix FLOPs at the
 * MFMA/tensor rate times the pipes' achievable utilisation, plus vector FLOPs, plus transcendental
 * ops on the special-function units) and its CU-side data movement (bytes at the CU's request
 * bandwidth), plus any latency it cannot hide (pipeline fill and epilogue of a GEMM tile). The kernel's compute-side critical path is the
 * most-loaded CU's workgroups back to back; DRAM traffic is shared with co-runners by the flow
 * solver. Isolated time = launch/latency + max(critical path, DRAM bytes / achievable bandwidth).
 */
export interface KernelTiming {
  wgNs: number;
  /** The most workgroups one CU runs, back to back (1: the grid fits its CU set in one wave). */
  waves: number;
  criticalNs: number;
  /** CU-ns the kernel needs on each CU group. */
  cuNsPerGroup: Float64Array;
  /** Workgroups placed on each CU group (in one wave, the CUs they occupy there); shared with every launch of a memoised timing: read only. */
  workgroupsPerGroup: Float64Array;
  /** Bytes of DRAM channel time (reads + writes + NMC update cost). */
  hbmBytes: number;
  /** Launch plus first-access latency: paid once, not overlapped with other work of the kernel. */
  fixedNs: number;
  isolatedNs: number;
  /**
   * Whether a workgroup's time follows the SM clock (power.ts slows such a kernel when the clock
   * falls): its arithmetic, its CU-side data movement and the DRAM bytes its CU moves all do, since
   * one SM's DRAM rate is a rate per SM clock (an 8-SM copy on an H200 slows 1.18x beside a partner
   * that lowers the clock 1.09x with no memory traffic of its own, while its dependent-load latency
   * moves 7%: validation/measured/clock_coupling.py). Only a kernel of fixed latency alone does not;
   * the HBM's own rate is not the SM clock's, so a kernel held by a hard HBM capacity keeps its pace
   * (on a part with a knee, its DRAM port time stretches by the clock and the HBM's load: pace.ts).
   */
  followsClock: boolean;
  /**
   * One workgroup's time with no other DRAM load, in its parts (hbm-knee.ts): its arithmetic or
   * CU-side data movement (`wgClockedNs`), its DRAM port time (`wgDramNs`) and its exposed latency.
   * wgNs = max(wgClockedNs, wgDramNs / hbmLoadShare) + wgExposedNs.
   */
  wgClockedNs: number;
  wgDramNs: number;
  wgExposedNs: number;
  /** Bytes/ns the kernel draws from the HBM at its unloaded pace: what it adds to the others' load (0 without DRAM traffic; hbm-load.ts). */
  hbmDemandBytesPerNs: number;
  /**
   * Bytes/ns its DRAM ports ask while they are what holds it: its bytes over its waves of port time
   * (0 without port time). The load its own requests meet is taken at this rate (loadedWorkgroupNs).
   */
  hbmPortDemandBytesPerNs: number;
  /** The fraction of its ports' demand the HBM gives it alone, by which its port time stretches (hbm-knee.ts; 1 on a part with a hard capacity). */
  hbmLoadShare: number;
}

/** Engine clock while the matrix pipes are busy (power-limited; the preset's sustained clock). */
export function clockGhz(hw: HardwareConfig): number {
  return hw.compute.clock_sustained_mhz / 1000;
}

/**
 * Engine clock for kernels that leave the matrix pipes idle (vector ALU GEMMs, elementwise,
 * reductions, copies): they stay under the power cap. Measured on an H100 SXM for this project:
 * an FP32 (FFMA) GEMM holds 1965 MHz while a bf16 tensor-core GEMM drops to 1365-1515 MHz
 * (validation/measured/).
 */
export function vectorClockGhz(hw: HardwareConfig): number {
  return (hw.compute.clock_vector_mhz ?? hw.compute.clock_peak_mhz) / 1000;
}

function hasMatrixRate(hw: HardwareConfig, dtype: Dtype): boolean {
  return !!hw.compute.matrix_flops_per_clock_per_cu[dtype];
}

/** Whether the part computes in `dtype` at all: on its matrix units, or else on its vector ALUs. */
function computesIn(hw: HardwareConfig, dtype: Dtype): boolean {
  return !!(hw.compute.matrix_flops_per_clock_per_cu[dtype] || vectorPerClock(hw, dtype));
}

/**
 * Refuses a dtype the part has no rate for, naming `field` (the flag or file field that chose it):
 * checked where a command takes its dtype, so the message does not come from deep in a kernel's costing.
 */
export function checkDtypeRate(hw: HardwareConfig, dtype: Dtype, field: string): void {
  if (computesIn(hw, dtype)) return;
  const supported = (Object.keys(DTYPE_BYTES) as Dtype[]).filter((d) => computesIn(hw, d));
  throw new SilicaError(`${field}: ${hw.name} has no ${dtype} rate (expected one of ${supported.join(', ')}), got ${dtype}`);
}

/** Matrix FLOP/ns of one CU for a dtype; falls back to the vector ALUs where the part has no MMA for it. */
export function matrixFlopsPerNsPerCu(hw: HardwareConfig, dtype: Dtype): number {
  // TF32 is a permission to round fp32 inputs, not a format of its own: a part without TF32 matrix units
  // runs the GEMM in fp32, on its fp32 matrix units where it has them (MI100, MI250X), as the
  // frameworks do. Taking the vector ALUs instead made a TF32 GEMM slower than the fp32 one.
  if (dtype === 'tf32' && !hasMatrixRate(hw, 'tf32')) return matrixFlopsPerNsPerCu(hw, 'fp32');
  const c = hw.compute;
  const perClock = c.matrix_flops_per_clock_per_cu[dtype] || vectorPerClock(hw, dtype);
  if (!perClock) checkDtypeRate(hw, dtype, 'dtype');
  const onMatrix = hasMatrixRate(hw, dtype);
  const utilisation = onMatrix ? c.matrix_pipe_utilization : c.vector_pipe_utilization;
  return perClock * (onMatrix ? clockGhz(hw) : vectorClockGhz(hw)) * utilisation;
}

export function vectorFlopsPerNsPerCu(hw: HardwareConfig, dtype: Dtype, ghz = vectorClockGhz(hw)): number {
  const perClock = vectorPerClock(hw, dtype) || vectorPerClock(hw, 'fp32');
  return perClock * ghz * hw.compute.vector_pipe_utilization;
}

function vectorPerClock(hw: HardwareConfig, dtype: Dtype): number {
  const v = hw.compute.vector_flops_per_clock_per_cu;
  return v[dtype] ?? (dtype === 'tf32' ? v.fp32 ?? 0 : 0);
}

export function hbmBytesPerNs(hw: HardwareConfig): number {
  return hw.memory.hbm.peak_gbps * hw.memory.hbm.efficiency;
}

export function cuBytesPerNs(hw: HardwareConfig, ghz = clockGhz(hw)): number {
  return hw.compute.l1_bytes_per_clock_per_cu * ghz;
}

export function kernelHbmBytes(hw: HardwareConfig, k: KernelCost): number {
  return k.hbmReadBytes + k.hbmWriteBytes + (k.nmcUpdateBytes ?? 0) * hw.memory.nmc.update_cost_factor;
}

/** `timeKernel(...).isolatedNs` without allocating (the GEMM tile search's inner loop). */
export function isolatedKernelNs(hw: HardwareConfig, layout: CuLayout, set: CuSet, k: KernelCost): number {
  const w = workgroupTiming(hw, k, wgScratch);
  const waves = k.workgroups > 0 ? maxWorkgroupsPerCu(k.workgroups, set, layout, hw.compute) : 0;
  const criticalNs = waves * loadedWorkgroupNs(w, waves).wgNs;
  return w.fixedNs + Math.max(criticalNs, w.hbmBytes / hbmBytesPerNs(hw));
}

export function timeKernel(hw: HardwareConfig, layout: CuLayout, set: CuSet, k: KernelCost): KernelTiming {
  const w = workgroupTiming(hw, k);
  const { hbmBytes, fixedNs, followsClock } = w;
  if (k.workgroups <= 0) {
    const none = new Float64Array(layout.groups);
    const parts = { wgClockedNs: w.clockedNs, wgDramNs: w.dramNs, wgExposedNs: w.exposedNs };
    return { wgNs: 0, waves: 0, criticalNs: 0, cuNsPerGroup: none, workgroupsPerGroup: none, hbmBytes, fixedNs, isolatedNs: fixedNs + hbmBytes / hbmBytesPerNs(hw), followsClock: false, ...parts, hbmDemandBytesPerNs: 0, hbmPortDemandBytesPerNs: 0, hbmLoadShare: 1 };
  }
  const placement = placeWorkgroups(k.workgroups, set, layout, hw.compute);
  if (followsClock) {
    const slowdown = capSlowdown(hw, k, w, placement.maxPerCu);
    if (slowdown > 1) {
      w.clockedNs *= slowdown;
      w.dramNs *= slowdown;
      w.exposedNs *= slowdown;
      w.wgNs *= slowdown;
    }
  }
  const parts = { wgClockedNs: w.clockedNs, wgDramNs: w.dramNs, wgExposedNs: w.exposedNs };
  const { wgNs, demand, portDemand, share } = loadedWorkgroupNs(w, placement.maxPerCu);
  const criticalNs = placement.maxPerCu * wgNs;
  const cuNsPerGroup = placement.perGroup.map((n) => n * wgNs);
  const isolatedNs = fixedNs + Math.max(criticalNs, hbmBytes / hbmBytesPerNs(hw));
  return { wgNs, waves: placement.maxPerCu, criticalNs, cuNsPerGroup, workgroupsPerGroup: placement.perGroup, hbmBytes, fixedNs, isolatedNs, followsClock, ...parts, hbmDemandBytesPerNs: demand, hbmPortDemandBytesPerNs: portDemand, hbmLoadShare: share };
}

/**
 * How much slower a kernel that follows the clock runs alone under `compute.power.cap_w` than under
 * the cap its time was calibrated at (`calibrated_cap_w`): its clock there over its clock here, from
 * its dynamic power at its calibrated pace (power.ts). 1 where the part has no calibration cap or
 * the cap is at least it: a higher cap does not speed a kernel past its calibrated clocks.
 */
function capSlowdown(hw: HardwareConfig, k: KernelCost, w: WorkgroupTiming, waves: number): number {
  const power = hw.compute.power;
  // Checked before any timing: every part but one run under a lower cap stops here.
  if (!power || power.calibrated_cap_w === undefined || power.cap_w >= power.calibrated_cap_w) return 1;
  const isolatedNs = w.fixedNs + Math.max(waves * loadedWorkgroupNs(w, waves).wgNs, w.hbmBytes / hbmBytesPerNs(hw));
  const dynamicW = kernelDynamicW(power, k, { isolatedNs, hbmBytes: w.hbmBytes });
  const peakMhz = hw.compute.clock_peak_mhz;
  return clockUnderCapMhz(calibratedPower(power), peakMhz, dynamicW) / clockUnderCapMhz(power, peakMhz, dynamicW);
}

/**
 * Whether DRAM sets a kernel's time alone (the roofline's slanted side): the HBM's capacity, or its
 * workgroups' DRAM port time (stretched by the knee, where the part has one) over their arithmetic.
 */
export function isDramBound(hw: HardwareConfig, t: KernelTiming): boolean {
  if (t.hbmBytes / hbmBytesPerNs(hw) >= t.criticalNs) return true;
  return t.wgDramNs > 0 && t.wgDramNs / t.hbmLoadShare >= t.wgClockedNs;
}

/** Reused by loadedWorkgroupNs, whose callers read it at once. */
const loadedScratch = { wgNs: 0, demand: 0, portDemand: 0, share: 1 };

/**
 * One workgroup's time alone on the HBM: on a part with a knee (hbm-knee.ts), its DRAM port time
 * stretched by the knee at its ports' demand (its bytes over its waves of port time).
 *
 * The stretch only matters while the port time is what holds the workgroup, and then its ports ask
 * at their own rate, whatever the arithmetic: so a workgroup of arithmetic c and port time d takes
 * max(c, d / s(ports' demand)). Taking the demand at the kernel's unloaded pace (its bytes over
 * max(c, d)) instead made a faster clock ask more, wait longer and, near the ridge point, finish
 * later (up to 5% on the H100 and H200). Now a faster clock or port never makes it slower. For a
 * stream (c below d) the two are the same demand, so the copies the knee was read off keep their
 * times. Equivalently, with b = a wave's bytes at the knee's capacity, max(c, (d^p + b^p)^(1/p)).
 */
function loadedWorkgroupNs(w: WorkgroupTiming, waves: number): { wgNs: number; demand: number; portDemand: number; share: number } {
  const out = loadedScratch;
  out.wgNs = w.wgNs;
  out.demand = waves > 0 && w.wgNs > 0 ? w.hbmBytes / (waves * w.wgNs) : 0;
  out.portDemand = waves > 0 && w.dramNs > 0 ? w.hbmBytes / (waves * w.dramNs) : 0;
  out.share = 1;
  if (w.knee && w.dramNs > 0) {
    out.share = hbmLoadShare(out.portDemand, w.knee);
    out.wgNs = Math.max(w.clockedNs, w.dramNs / out.share) + w.exposedNs;
  }
  return out;
}

interface WorkgroupTiming {
  wgNs: number;
  /** The parts of wgNs: max(clockedNs, dramNs) + exposedNs. */
  clockedNs: number;
  dramNs: number;
  exposedNs: number;
  hbmBytes: number;
  fixedNs: number;
  followsClock: boolean;
  /** The part's HBM knee (hbm-knee.ts), or undefined: read once with the rates, not per timing. */
  knee: HbmKnee | undefined;
}

/** Reused by isolatedKernelNs, which reads it at once: the tile search calls it ~50 times per GEMM. */
const wgScratch: WorkgroupTiming = { wgNs: 0, clockedNs: 0, dramNs: 0, exposedNs: 0, hbmBytes: 0, fixedNs: 0, followsClock: false, knee: undefined };

/**
 * The rates workgroupTiming reads for one dtype, computed once per (frozen) hardware config: the
 * GEMM tile search times ~50 candidates per GEMM, and re-deriving clocks and per-CU rates for each
 * (every helper returning a fresh float) made it allocate more than anything else in a sweep. The
 * values are the same numbers the helpers above return, so timings are bit-identical.
 */
interface DtypeRates {
  /** Kernels with matrix work run at the sustained clock; the rest at the vector clock. */
  hasMatrixRate: boolean;
  /** Matrix FLOP/ns per CU, or NaN where the part has no rate at all (an error if used). */
  matrixFlopsPerNs: number;
  vectorFlopsPerNs: { atMatrixClock: number; atVectorClock: number };
  sfuOpsPerNs: { atMatrixClock: number; atVectorClock: number };
  cuBytesPerNs: { atMatrixClock: number; atVectorClock: number };
  /** DRAM bytes/ns one CU draws at most at the calibration clock (power.ts scales it with the clock), or Infinity. */
  dramBytesPerNsPerCu: number;
  /** The part's HBM knee, or undefined (the same for every dtype; kept here so the tile search looks it up once). */
  knee: HbmKnee | undefined;
}

const ratesCache = new WeakMap<HardwareConfig, Map<Dtype, DtypeRates>>();

function ratesOf(hw: HardwareConfig, dtype: Dtype): DtypeRates {
  let byDtype = ratesCache.get(hw);
  if (!byDtype) {
    byDtype = new Map();
    ratesCache.set(hw, byDtype);
  }
  let rates = byDtype.get(dtype);
  if (!rates) {
    const matrixGhz = clockGhz(hw);
    const vectorGhz = vectorClockGhz(hw);
    const perClock = hw.compute.matrix_flops_per_clock_per_cu[dtype] || vectorPerClock(hw, dtype);
    const sfuPerClock = hw.compute.transcendental_ops_per_clock_per_cu;
    rates = {
      hasMatrixRate: hasMatrixRate(hw, dtype),
      matrixFlopsPerNs: perClock ? matrixFlopsPerNsPerCu(hw, dtype) : NaN,
      vectorFlopsPerNs: { atMatrixClock: vectorFlopsPerNsPerCu(hw, dtype, matrixGhz), atVectorClock: vectorFlopsPerNsPerCu(hw, dtype, vectorGhz) },
      sfuOpsPerNs: { atMatrixClock: sfuPerClock * matrixGhz, atVectorClock: sfuPerClock * vectorGhz },
      cuBytesPerNs: { atMatrixClock: cuBytesPerNs(hw, matrixGhz), atVectorClock: cuBytesPerNs(hw, vectorGhz) },
      dramBytesPerNsPerCu: hw.compute.dram_gbps_per_cu ?? Infinity,
      knee: hbmKnee(hw),
    };
    byDtype.set(dtype, rates);
  }
  return rates;
}

/** One workgroup's time on an idle CU, the kernel's DRAM bytes and its fixed latency (written into `out`). */
function workgroupTiming(hw: HardwareConfig, k: KernelCost, out: WorkgroupTiming = { wgNs: 0, clockedNs: 0, dramNs: 0, exposedNs: 0, hbmBytes: 0, fixedNs: 0, followsClock: false, knee: undefined }): WorkgroupTiming {
  const w = k.perWorkgroup;
  const r = ratesOf(hw, k.dtype);
  // The whole kernel runs at one clock: the power-limited one if it keeps the matrix pipes busy.
  const atMatrixClock = w.matrixFlops > 0 && r.hasMatrixRate;
  if (w.matrixFlops > 0 && Number.isNaN(r.matrixFlopsPerNs)) matrixFlopsPerNsPerCu(hw, k.dtype); // throws: no rate for this dtype
  const computeNs =
    (w.matrixFlops > 0 ? w.matrixFlops / r.matrixFlopsPerNs : 0) +
    (w.vectorFlops > 0 ? w.vectorFlops / (atMatrixClock ? r.vectorFlopsPerNs.atMatrixClock : r.vectorFlopsPerNs.atVectorClock) : 0);
  const sfuNs = w.transcendentalOps ? w.transcendentalOps / (atMatrixClock ? r.sfuOpsPerNs.atMatrixClock : r.sfuOpsPerNs.atVectorClock) : 0;
  // A CU's DRAM traffic (its share of the kernel's) is also bounded by what one CU can move: on a
  // few CUs that, not the HBM, sets a streaming kernel's pace.
  const dramNs = k.workgroups > 0 ? (w.dramBytes ?? (k.hbmReadBytes + k.hbmWriteBytes + (k.nmcUpdateBytes ?? 0)) / k.workgroups) / r.dramBytesPerNsPerCu : 0;
  const cuMoveNs = w.cuBytes / (atMatrixClock ? r.cuBytesPerNs.atMatrixClock : r.cuBytesPerNs.atVectorClock);
  // Matrix, vector and special-function work of one workgroup issue from the same waves and are
  // summed (FlashAttention-2-style kernels do not overlap them); data movement overlaps with them.
  const clockedNs = Math.max(computeNs + sfuNs, cuMoveNs);
  const exposedNs = w.exposedNs ?? 0;
  const wgNs = Math.max(clockedNs, dramNs) + exposedNs;
  const hbmBytes = kernelHbmBytes(hw, k);
  out.wgNs = wgNs;
  out.clockedNs = clockedNs;
  out.dramNs = dramNs;
  out.exposedNs = exposedNs;
  out.knee = r.knee;
  out.followsClock = clockedNs > 0 || dramNs > 0;
  out.hbmBytes = hbmBytes;
  out.fixedNs = hw.compute.kernel_launch_ns + (hbmBytes > 0 ? hw.memory.hbm.latency_ns : 0);
  return out;
}
