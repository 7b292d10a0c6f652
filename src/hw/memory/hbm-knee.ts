import type { HardwareConfig } from '../config/schema.js';

/**
 * How an HBM saturates: the bytes it delivers for the bytes the CUs' DRAM ports ask.
 *
 * Each streaming SM keeps a number of requests in flight; the DRAM's latency grows with the
 * requests of every SM, so what one SM moves falls as the chip fills, well before the HBM's
 * capacity: a closed queue, not a hard cap. Measured on an H200 (validation/measured/
 * h200-141gb-hbm3e-loaded-latency-alone*.json, the persistent copy alone on 8-132 SMs): 95, 95,
 * 92, 86, 69, 57, 41 and 29 GB/s per SM, where a hard cap at 4.22 TB/s gives 95 up to 44 SMs
 * and then 4.22 TB/s (27% fast at 48 SMs). The p-norm soft minimum
 *
 *   U = (D^-p + C^-p)^(-1/p),   D = the ports' demand, bytes/ns,
 *
 * with p = 3 (memory.hbm.knee_exponent) follows that curve within -1..+6% up to 96 SMs on the H200
 * and -2..+9% on the H100 (its copy alone, h100-80gb-hbm3-sm-scaling.json), where the hard cap is
 * off by up to 27% and 28%. C is set so the whole chip's ports (cus x dram_gbps_per_cu) stream
 * at the preset's peak x efficiency, so a kernel streaming on the whole chip keeps its calibrated
 * rate; what changes is a kernel whose ports ask less than the chip's: one on part of the chip, a
 * grid of fewer workgroups than CUs, and kernels that run together. "The whole chip" is the one
 * measured (memory.hbm.knee_calibrated_cus, default compute.cus): C is the memory's, so a what-if
 * with more CUs does not lower it (which slowed a kernel on part of the chip by up to 0.4%).
 *
 * Every kernel's DRAM port time stretches by D/U (its requests wait longer, hbmLoadShare); a
 * kernel whose arithmetic outlasts its DRAM time hides the wait, as a GEMM's pipelined loads do.
 */

export interface HbmKnee {
  /** C of the soft minimum, bytes/ns. */
  capacityBytesPerNs: number;
  /** p of the soft minimum. */
  exponent: number;
}

const knees = new WeakMap<HardwareConfig, HbmKnee | null>();

/** A part's knee (computed once per frozen config), or undefined where its HBM is a hard capacity. */
export function hbmKnee(hw: HardwareConfig): HbmKnee | undefined {
  let knee = knees.get(hw);
  if (knee === undefined) {
    const p = hw.memory.hbm.knee_exponent;
    const portGbps = hw.compute.dram_gbps_per_cu;
    knee = null;
    const chipStream = hw.memory.hbm.peak_gbps * hw.memory.hbm.efficiency;
    const chipDemand = (portGbps ?? 0) * (hw.memory.hbm.knee_calibrated_cus ?? hw.compute.cus);
    // C grows without bound as the chip's ports approach the HBM's rate: a part whose SMs cannot
    // outrun its HBM (an H200 cut to 40 SMs, say) never reaches the knee, and keeps a hard capacity
    // its ports never reach either.
    if (p !== undefined && chipDemand > chipStream) knee = { capacityBytesPerNs: (chipStream ** -p - chipDemand ** -p) ** (-1 / p), exponent: p };
    knees.set(hw, knee);
  }
  return knee ?? undefined;
}

/** The fraction U / D of a DRAM port demand (bytes/ns) the HBM delivers: 1 at no load, falling to C / D. */
export function hbmLoadShare(demandBytesPerNs: number, knee: HbmKnee): number {
  if (!(demandBytesPerNs > 0)) return 1;
  return (1 + (demandBytesPerNs / knee.capacityBytesPerNs) ** knee.exponent) ** (-1 / knee.exponent);
}
