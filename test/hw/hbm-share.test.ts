import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange } from '../../src/hw/gpu/cu-mask.js';
import { hbmBytesPerNs } from '../../src/hw/gpu/kernel-timing.js';
import { kernelFlowWeight } from '../../src/hw/memory/hbm-share.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { corunWindows } from '../../src/hw/corun.js';

/** The H200 with its power cap lifted, so that the clock stays put and only the HBM is shared. */
const hw = loadHardware('h200-sxm', ['compute.power.cap_w=1e12']);
const layout = makeCuLayout(hw.compute);
const GiB = 1 << 30;

describe('how kernels on CU-masked lanes share the HBM (hbm-share.ts)', () => {
  it('a copy on 8 SMs beside a copy on the other 124 gets the HBM bytes of its 8 SMs: C x 8 / 132', () => {
    const small = { kernels: [streamCost('copy', GiB)], set: cuRange(layout, 0, 8), reps: 1 };
    const big = { kernels: [streamCost('copy', GiB)], set: cuRange(layout, 8, 124), reps: 20 }; // outlasts the small one
    const w = corunWindows(hw, small, big);
    const movedBytes = 2 * GiB;
    const perSmShare = (hbmBytesPerNs(hw) * 8) / 132;
    // Alone, the 8 SMs' DRAM ports set its pace; beside the partner, its SMs' share of the HBM.
    expect(w.aAloneNs).toBeGreaterThan(movedBytes / (8 * hw.compute.dram_gbps_per_cu!));
    expect(w.aAloneNs).toBeLessThan((movedBytes / (8 * hw.compute.dram_gbps_per_cu!)) * 1.01);
    // Within 1.5%: the partner's launch gaps (a few µs between its 0.5-ms copies) leave the HBM to the small lane.
    expect(Math.abs(w.aTogetherNs / (movedBytes / perSmShare) - 1)).toBeLessThan(0.015);
    // Shared by kernels with each slowed alike, as before, it would have slowed by only the HBM's oversubscription.
    const fairSlowdown = (8 * hw.compute.dram_gbps_per_cu! + hbmBytesPerNs(hw)) / hbmBytesPerNs(hw);
    expect(w.aTogetherNs / w.aAloneNs).toBeGreaterThan(2 * fairSlowdown);
  });

  it('two equal copies on lanes of different sizes move bytes in proportion to their SMs while both run', () => {
    for (const [a, b] of [
      [24, 108],
      [64, 68],
    ] as const) {
      const sideA = { kernels: [streamCost('copy', GiB)], set: cuRange(layout, 0, a), reps: 1 };
      const sideB = { kernels: [streamCost('copy', GiB)], set: cuRange(layout, a, b), reps: 40 };
      const w = corunWindows(hw, sideA, sideB);
      const share = (hbmBytesPerNs(hw) * a) / (a + b);
      expect(Math.abs(w.aTogetherNs / ((2 * GiB) / share) - 1)).toBeLessThan(0.015);
    }
  });

  it('a compute-bound GEMM on a 40-SM lane keeps its pace beside a copy that saturates the HBM on the other 92', () => {
    const set = cuRange(layout, 0, 40);
    const gemm = { kernels: [gemmCost(hw, { m: 2048, n: 8192, k: 8192, dtype: 'bf16' }, set)], set, reps: 5 };
    const copy = { kernels: [streamCost('copy', GiB)], set: cuRange(layout, 40, 92), reps: 50 };
    const w = corunWindows(hw, gemm, copy);
    expect(w.aTogetherNs / w.aAloneNs).toBeLessThan(1.01);
    expect(w.bTogetherNs / w.bAloneNs).toBeGreaterThanOrEqual(1);
  });

  it('kernels on the whole chip keep the fair-slowdown weight (1 / isolated time), whatever their grid', () => {
    const o = { criticalNs: 2e6, hbmBytes: 1e9, cus: 132, setCus: 132, chipCus: 132, hbmBytesPerNs: hbmBytesPerNs(hw) };
    expect(kernelFlowWeight(o)).toBe(1 / Math.max(o.criticalNs, o.hbmBytes / o.hbmBytesPerNs));
    expect(kernelFlowWeight({ ...o, cus: 16 })).toBe(kernelFlowWeight(o));
    expect(kernelFlowWeight({ ...o, hbmBytes: 0 })).toBe(1 / o.criticalNs);
    // On a lane, the weight is its CUs' share of the chip per ns of HBM time, compute-bound or not.
    expect(kernelFlowWeight({ ...o, cus: 40, setCus: 40 })).toBeCloseTo(40 / 132 / (o.hbmBytes / o.hbmBytesPerNs), 12);
    // Every flow with HBM traffic keeps a positive weight, or the solver would never move it.
    for (const cus of [1, 8, 131]) expect(kernelFlowWeight({ ...o, cus, setCus: cus })).toBeGreaterThan(0);
  });
});
