import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, firstNCus, fullCuSet } from '../../src/hw/gpu/cu-mask.js';
import { hbmBytesPerNs } from '../../src/hw/gpu/kernel-timing.js';
import { hbmKnee, hbmLoadShare } from '../../src/hw/memory/hbm-knee.js';
import { simulateKernel } from '../../src/hw/system.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { corunWindows, type CorunSide } from '../../src/hw/corun.js';
import { silicaErrorOf } from '../helpers/errors.js';

const h200 = loadHardware('h200-sxm');
const UNCAPPED = ['compute.power.cap_w=1e12'];

/** GB/s of a 1 GiB copy alone on the first `cus` SMs. */
const copyGbps = (hw: typeof h200, cus: number) => {
  const kernel = streamCost('copy', 1 << 30);
  return (kernel.hbmReadBytes + kernel.hbmWriteBytes) / simulateKernel(hw, kernel, firstNCus(makeCuLayout(hw.compute), cus)).timeNs;
};

/** The persistent copy alone on N SMs as measured (GB/s by SM count): [file, kernel filter]. */
function measuredCopy(file: string, pick: (r: Record<string, unknown>) => boolean, sms: string, gbps: string): Map<number, number> {
  const data = JSON.parse(readFileSync(new URL(`../../validation/measured/${file}`, import.meta.url), 'utf8'));
  const rows = (data.runs ?? data.persistent_copy) as Array<Record<string, unknown>>;
  return new Map(rows.filter(pick).map((r) => [r[sms] as number, r[gbps] as number]));
}

describe('the HBM knee (src/hw/memory/hbm-knee.ts)', () => {
  const knee = hbmKnee(h200)!;

  it('is a soft minimum: the share falls from 1, the bytes delivered rise towards C and stay under both D and C', () => {
    expect(hbmLoadShare(0, knee)).toBe(1);
    let lastShare = 1;
    let lastU = 0;
    for (let d = 100; d <= 1e5; d *= 1.5) {
      const share = hbmLoadShare(d, knee);
      const u = d * share;
      expect(share).toBeLessThan(lastShare);
      expect(u).toBeGreaterThan(lastU);
      expect(u).toBeLessThan(Math.min(d, knee.capacityBytesPerNs));
      [lastShare, lastU] = [share, u];
    }
    expect((1e7 * hbmLoadShare(1e7, knee)) / knee.capacityBytesPerNs).toBeCloseTo(1, 6);
  });

  it('keeps the whole chip at its calibrated streaming rate: the ports of 132 SMs get peak x efficiency', () => {
    const chipDemand = h200.compute.cus * h200.compute.dram_gbps_per_cu!;
    expect(chipDemand * hbmLoadShare(chipDemand, knee)).toBeCloseTo(hbmBytesPerNs(h200), 6);
    expect(knee.capacityBytesPerNs).toBeGreaterThan(hbmBytesPerNs(h200));
  });

  it('follows the copy alone on 8-96 SMs of the H200 it was read off (within -2..+7%), and the H100\'s, a check (within 10%)', () => {
    const h200Copy = measuredCopy('h200-141gb-hbm3e-loaded-latency-alone.json', (r) => r.victim === 'persistent_copy', 'victim_sms', 'gbps_alone');
    for (const sms of [8, 16, 24, 32, 48, 64, 96]) {
      const ratio = copyGbps(h200, sms) / h200Copy.get(sms)!;
      expect(ratio).toBeGreaterThan(0.98);
      expect(ratio).toBeLessThan(1.07);
    }
    const h100 = loadHardware('h100-sxm');
    const h100Copy = measuredCopy('h100-80gb-hbm3-sm-scaling.json', (r) => r.kernel === 'copy_u1', 'sms', 'achieved_gbps');
    for (const sms of [8, 16, 24, 32, 48, 64, 96, 132]) expect(Math.abs(copyGbps(h100, sms) / h100Copy.get(sms)! - 1)).toBeLessThan(0.1);
  });

  it('two copies on the same SMs ask what one does: together they take twice one\'s time, as on an H200 (1.98x)', () => {
    const hw = loadHardware('h200-sxm', UNCAPPED);
    const set = fullCuSet(makeCuLayout(hw.compute));
    const side = (): CorunSide => ({ kernels: [streamCost('copy', 1 << 29)], set, reps: 20 });
    const w = corunWindows(hw, side(), side());
    expect(w.aTogetherNs / w.aAloneNs).toBeGreaterThan(1.9);
    expect(w.aTogetherNs / w.aAloneNs).toBeLessThan(2.05);
  });

  it('leaves a compute-bound GEMM its pace beside a copy on other SMs (its arithmetic covers the longer wait), and slows a GEMV', () => {
    const hw = loadHardware('h200-sxm', UNCAPPED);
    const layout = makeCuLayout(hw.compute);
    const [a, b] = [cuRange(layout, 0, 64), cuRange(layout, 64, 68)];
    const copy: CorunSide = { kernels: [streamCost('copy', 1 << 30)], set: b, reps: 200 };
    const dense = corunWindows(hw, { kernels: [gemmCost(hw, { m: 4096, n: 4096, k: 4096, dtype: 'bf16' }, a)], set: a, reps: 20 }, copy);
    expect(dense.aTogetherNs / dense.aAloneNs).toBeLessThan(1.02);
    const skinny = corunWindows(hw, { kernels: [gemmCost(hw, { m: 64, n: 14336, k: 4096, dtype: 'bf16' }, a)], set: a, reps: 200 }, copy);
    expect(skinny.aTogetherNs / skinny.aAloneNs).toBeGreaterThan(1.3);
  });

  it('refuses a knee without the ports\' rate in one line naming the field; a part whose SMs cannot outrun its HBM keeps a hard capacity', () => {
    expect(silicaErrorOf(() => loadHardware('mi300x', ['memory.hbm.knee_exponent=3']))).toMatch(/memory\.hbm\.knee_exponent.*compute\.dram_gbps_per_cu/);
    expect(silicaErrorOf(() => loadHardware('h200-sxm', ['memory.hbm.knee_exponent=-1']))).toMatch(/memory\.hbm\.knee_exponent/);
    // 40 SMs x 95 GB/s < 4.22 TB/s: the knee's C would be infinite, so the copy runs at its ports' rate.
    const cut = loadHardware('h200-sxm', ['compute.cus=40']);
    expect(hbmKnee(cut)).toBeUndefined();
    expect(copyGbps(cut, 40) / (40 * cut.compute.dram_gbps_per_cu!)).toBeGreaterThan(0.99);
    // Just above the threshold C is huge, so the knee barely acts: continuous across it.
    const justAbove = loadHardware('h200-sxm', ['compute.cus=45']);
    expect(copyGbps(justAbove, 45) / (45 * justAbove.compute.dram_gbps_per_cu!)).toBeGreaterThan(0.96);
  });
});
