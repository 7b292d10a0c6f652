/**
 * How a kernel's flow shares the HBM with kernels on other CUs: its max-min weight (flow-network.ts).
 *
 * Measured on an H200 (validation/measured/loaded_latency.py, validation/loaded-latency.yaml): a
 * persistent copy on 8, 24 or 64 SMs beside the same copy on 8-124 other SMs moves the same bytes
 * per SM as its partner while both run, from 1.4 TB/s together to the HBM's saturation (87 and 86,
 * 78 and 78, 53 and 53, 31 and 31 GB/s per SM...). A DRAM controller serves requests, and each
 * streaming SM keeps about as many in flight as another: the HBM's bytes go by SMs, not by kernels.
 * Sharing by kernels with each slowed alike ("fair slowdown", weight 1 / isolated time) left an
 * 8-SM copy beside a copy on the other 124 SMs at 1.18x; it slows 2.9x while the partner runs.
 *
 * So a kernel on a CU-masked lane (a set smaller than the chip) weighs its CUs' share of the chip
 * per ns of HBM time: once the HBM saturates, the kernels held by it get bytes in proportion to
 * their CUs, and one that asks for less than its CUs' share (a compute-bound GEMM on its lane)
 * keeps what it asks for, as max-min sharing gives a small demand. Kernels on the whole chip keep
 * fair slowdown: streams on the same SMs split those SMs' requests in flight, which the measurement
 * above does not resolve (validation/shared-sms.yaml holds fair slowdown to 3.5%), and DMA
 * transfers and collectives (weight 1 / isolated time) meet whole-chip kernels as before; for a
 * kernel held by the HBM on the whole chip, the two weights are the same number.
 */
export function kernelFlowWeight(o: { criticalNs: number; hbmBytes: number; cus: number; setCus: number; chipCus: number; hbmBytesPerNs: number }): number {
  const hbmNs = o.hbmBytes / o.hbmBytesPerNs;
  if (o.setCus >= o.chipCus || !(hbmNs > 0)) return 1 / Math.max(o.criticalNs, hbmNs, 1e-9);
  return o.cus / o.chipCus / hbmNs;
}
