import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, firstNCus } from '../../src/hw/gpu/cu-mask.js';
import type { HardwareConfig } from '../../src/hw/config/schema.js';
import { hbmBytesPerNs } from '../../src/hw/gpu/kernel-timing.js';
import { hbmKnee, hbmLoadShare } from '../../src/hw/memory/hbm-knee.js';
import { simulateKernel } from '../../src/hw/system.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { runnerFor } from '../../src/validate/index.js';
import { corunWindows } from '../../src/hw/corun.js';
import { gemmCost } from '../../src/kernels/gemm.js';

// Bytes a copy moves (read + written) per ns on the first `cus` CUs of a part.
const copyGbps = (hwName: string, cus: number, overlays: string[] = []) => copyGbpsOn(loadHardware(hwName, overlays), cus);
const copyGbpsOn = (hw: HardwareConfig, cus: number) => {
  const kernel = streamCost('copy', 1 << 30);
  const run = simulateKernel(hw, kernel, firstNCus(makeCuLayout(hw.compute), cus));
  return (kernel.hbmReadBytes + kernel.hbmWriteBytes) / run.timeNs;
};

/** The part with its HBM a hard capacity (no memory.hbm.knee_exponent). */
const withoutKnee = (hw: HardwareConfig): HardwareConfig => ({ ...hw, memory: { ...hw.memory, hbm: { ...hw.memory.hbm, knee_exponent: undefined } } });

describe('per-CU DRAM bound (compute.dram_gbps_per_cu)', () => {
  it('a copy on N SMs moves the knee\'s soft minimum of N x the per-SM rate and the HBM, less only its launch and first access', () => {
    const hw = loadHardware('h100-sxm');
    const perCu = hw.compute.dram_gbps_per_cu!;
    const knee = hbmKnee(hw)!;
    for (const n of [8, 16, 24, 64, 132]) {
      const bound = n * perCu * hbmLoadShare(n * perCu, knee);
      const got = copyGbps('h100-sxm', n);
      expect(got).toBeLessThanOrEqual(bound * (1 + 1e-9));
      expect(got).toBeGreaterThan(bound * 0.99);
    }
    // Without the knee the HBM is a hard capacity: min(N x the per-SM rate, the HBM rate).
    const hard = withoutKnee(hw);
    for (const n of [8, 16, 24, 64, 132]) {
      const bound = Math.min(n * perCu, hbmBytesPerNs(hard));
      const got = copyGbpsOn(hard, n);
      expect(got).toBeLessThanOrEqual(bound * (1 + 1e-9));
      expect(got).toBeGreaterThan(bound * 0.99);
    }
  });

  it('the knee keeps a whole chip\'s calibrated streaming rate, and is below the hard capacity\'s rate on part of it', () => {
    const hw = loadHardware('h200-sxm');
    const hard = withoutKnee(hw);
    // Within 0.1%: the chip's ports ask 132 x 95 GB/s only where every wave is whole.
    expect(Math.abs(copyGbps('h200-sxm', 132) / copyGbpsOn(hard, 132) - 1)).toBeLessThan(1e-3);
    for (const n of [8, 24, 48, 64, 96]) expect(copyGbps('h200-sxm', n)).toBeLessThan(copyGbpsOn(hard, n));
  });

  it('halving the per-SM rate halves a few-SM copy\'s bandwidth (the bound, not the HBM, sets it)', () => {
    const full = copyGbps('h100-sxm', 8);
    const half = copyGbps('h100-sxm', 8, [`compute.dram_gbps_per_cu=${loadHardware('h100-sxm').compute.dram_gbps_per_cu! / 2}`]);
    expect(half / full).toBeCloseTo(0.5, 2);
  });

  it('a preset without it keeps the L1 request rate as a CU\'s only bound', () => {
    const mi = loadHardware('mi300x');
    expect(mi.compute.dram_gbps_per_cu).toBeUndefined();
    const l1 = mi.compute.l1_bytes_per_clock_per_cu * ((mi.compute.clock_vector_mhz ?? mi.compute.clock_peak_mhz) / 1000);
    const n = 16;
    expect(copyGbps('mi300x', n)).toBeGreaterThan(Math.min(n * l1, hbmBytesPerNs(mi)) * 0.99);
  });
});

describe('co-running streams on disjoint CUs (validation runner corun)', () => {
  const corun = runnerFor('corun');
  const copy = { op: 'copy', array_bytes: '512MiB' };
  const gemm = { op: 'gemm', m: 8192, n: 2048, k: 8192, dtype: 'bf16' };
  const run = (a: object, b: object, cusA: number, cusB: number) =>
    corun(loadHardware('h100-sxm'), { a, b, cus_a: cusA, cus_b: cusB, reps_a: 20, reps_b: 20 }, { overlays: [] }) as Record<string, number>;

  it('two copies that each saturate the HBM alone slow each other about twofold, symmetrically on an even split', () => {
    const r = run(copy, copy, 66, 66);
    expect(r.a_slowdown).toBeGreaterThan(1.8);
    expect(r.a_slowdown).toBeLessThanOrEqual(2 + 1e-6);
    expect(r.a_slowdown).toBeCloseTo(r.b_slowdown!, 6);
  });

  it('compute-bound GEMMs on disjoint SMs share no saturated resource: only the power cap slows them, by its clock', () => {
    // The cap lifted: nothing they share is saturated, so neither slows.
    const free = corun(loadHardware('h100-sxm', ['compute.power.cap_w=1e12']), { a: gemm, b: gemm, cus_a: 72, cus_b: 60, reps_a: 20, reps_b: 20 }, { overlays: [] }) as Record<string, number>;
    expect(free.a_slowdown).toBeCloseTo(1, 2);
    expect(free.b_slowdown).toBeCloseTo(1, 2);
    // Under the cap the 72-SM GEMM, busy beside the other for its whole window, runs at the clock
    // ratio (power.ts): its clock alone over the chip's clock with both running.
    const hw = loadHardware('h100-sxm');
    const layout = makeCuLayout(hw.compute);
    const side = (from: number, cus: number) => {
      const set = cuRange(layout, from, cus);
      return { kernels: [gemmCost(hw, { m: 8192, n: 2048, k: 8192, batch: 1, dtype: 'bf16' }, set)], set, reps: 20 };
    };
    const w = corunWindows(hw, side(0, 72), side(72, 60));
    expect(w.aTogetherNs / w.aAloneNs).toBeCloseTo(w.aAloneMhz / w.togetherMhz, 2);
    expect(run(gemm, gemm, 72, 60).a_slowdown).toBeCloseTo(w.aTogetherNs / w.aAloneNs, 9);
  });

  it('rejects splits larger than the chip', () => {
    expect(() => run(copy, copy, 100, 40)).toThrow(/more than the 132 CUs/);
  });
});
