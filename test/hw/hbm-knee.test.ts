import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, firstNCus, fullCuSet } from '../../src/hw/gpu/cu-mask.js';
import { hbmBytesPerNs, timeKernel } from '../../src/hw/gpu/kernel-timing.js';
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

  it('a kernel\'s requests meet its own ports\' demand and what the others draw: the closed form for a GEMV and a copy side by side', () => {
    const hw = loadHardware('h200-sxm', UNCAPPED);
    const layout = makeCuLayout(hw.compute);
    const [a, b] = [cuRange(layout, 0, 64), cuRange(layout, 64, 68)];
    const gemv = gemmCost(hw, { m: 1, n: 14336, k: 4096, dtype: 'bf16' }, a);
    const copy = streamCost('copy', 1 << 30);
    const [g, c] = [timeKernel(hw, layout, a, gemv), timeKernel(hw, layout, b, copy)];
    const knee = hbmKnee(hw)!;
    // Alone, each stretches by its ports' demand; together by its ports' demand plus the other's draw.
    const wg = (t: typeof g, share: number) => Math.max(t.wgClockedNs, t.wgDramNs / share) + t.wgExposedNs;
    expect(hbmLoadShare(g.hbmPortDemandBytesPerNs, knee)).toBe(g.hbmLoadShare);
    const gemvSlowdown = wg(g, hbmLoadShare(g.hbmPortDemandBytesPerNs + c.hbmDemandBytesPerNs, knee)) / wg(g, g.hbmLoadShare);
    const copySlowdown = wg(c, hbmLoadShare(c.hbmPortDemandBytesPerNs + g.hbmDemandBytesPerNs, knee)) / wg(c, c.hbmLoadShare);
    expect(gemvSlowdown).toBeGreaterThan(1.1);
    // A launch's fixed latency (6% of this GEMV) does not stretch.
    const launch = (t: typeof g, slowdown: number) => (t.fixedNs + (t.isolatedNs - t.fixedNs) * slowdown) / t.isolatedNs;
    // Each side checked in a pair where the other outlasts it, so its whole window is shared.
    const gemvWindows = corunWindows(hw, { kernels: [gemv], set: a, reps: 2000 }, { kernels: [copy], set: b, reps: 200 });
    const copyWindows = corunWindows(hw, { kernels: [gemv], set: a, reps: 4000 }, { kernels: [copy], set: b, reps: 50 });
    expect(gemvWindows.bTogetherNs).toBeGreaterThan(gemvWindows.aTogetherNs);
    expect(copyWindows.aTogetherNs).toBeGreaterThan(copyWindows.bTogetherNs);
    // Within the partner's launch gaps, when it draws nothing: the copy's 0.4% of its time, the GEMV's 6%.
    expect(Math.abs(gemvWindows.aTogetherNs / gemvWindows.aAloneNs / launch(g, gemvSlowdown) - 1)).toBeLessThan(0.005);
    expect(Math.abs(copyWindows.bTogetherNs / copyWindows.bAloneNs / launch(c, copySlowdown) - 1)).toBeLessThan(0.02);
  });

  it('never makes a GEMM slower for a faster clock, wider L1 or faster DRAM ports (a 4096x64x8192 GEMM on an H200 ran 5% slower at 1.25x the clock)', () => {
    // A workgroup's port time waits by its ports' demand, whatever its arithmetic: the stretch
    // only holds it back while the ports are what hold it. Taken at the kernel's unloaded pace, a
    // faster clock asked more of the HBM and stretched the port time past the old pace.
    const shapes = [
      { m: 4096, n: 64, k: 8192, dtype: 'fp16' as const },
      { m: 4096, n: 16, k: 512, dtype: 'fp16' as const },
      { m: 4096, n: 1, k: 512, dtype: 'bf16' as const },
      { m: 64, n: 14336, k: 4096, dtype: 'bf16' as const },
      { m: 8192, n: 2048, k: 8192, dtype: 'bf16' as const },
    ];
    for (const part of ['h200-sxm', 'h100-sxm']) {
      const base = loadHardware(part);
      const c = base.compute;
      const fields: Array<[string, number[]]> = [
        ['compute.clock_sustained_mhz', [0.6, 0.8, 1, 1.25].map((f) => Math.min(c.clock_peak_mhz, c.clock_sustained_mhz * f))],
        ['compute.l1_bytes_per_clock_per_cu', [0.8, 1, 1.25, 2].map((f) => c.l1_bytes_per_clock_per_cu * f)],
        ['compute.dram_gbps_per_cu', [0.8, 1, 1.25].map((f) => c.dram_gbps_per_cu! * f)],
      ];
      for (const [field, values] of fields) {
        const parts = values.map((v) => loadHardware(part, [`${field}=${v}`]));
        for (const cus of [132, 64]) {
          for (const shape of shapes) {
            const times = parts.map((hw) => {
              const set = firstNCus(makeCuLayout(hw.compute), cus);
              return simulateKernel(hw, gemmCost(hw, shape, set), set).timeNs;
            });
            for (let i = 1; i < times.length; i++) expect(times[i]!, `${part} ${field}=${values[i]} on ${cus} SMs: ${JSON.stringify(shape)}`).toBeLessThanOrEqual(times[i - 1]! * (1 + 1e-9));
          }
        }
      }
    }
  });

  it('keeps C the memory\'s when the chip has more or fewer CUs: a kernel on part of the chip runs the same (it slowed by up to 0.4% with more)', () => {
    const c = hbmKnee(h200)!.capacityBytesPerNs;
    for (const cus of [64, 70, 71, 100, 264, 528]) {
      const hw = loadHardware('h200-sxm', [`compute.cus=${cus}`]);
      expect(hbmKnee(hw)!.capacityBytesPerNs).toBe(c);
      expect(copyGbps(hw, 48) / copyGbps(h200, 48)).toBeCloseTo(1, 12);
    }
    // Without the calibrated count, C follows compute.cus, as before.
    expect(hbmKnee(loadHardware('h200-sxm', ['compute.cus=264', 'memory.hbm.knee_calibrated_cus=264']))!.capacityBytesPerNs).toBeLessThan(c);
  });

  it('refuses a knee without the ports\' rate in one line naming the field; a part whose SMs cannot outrun its HBM keeps a hard capacity', () => {
    expect(silicaErrorOf(() => loadHardware('mi300x', ['memory.hbm.knee_exponent=3']))).toMatch(/memory\.hbm\.knee_exponent.*compute\.dram_gbps_per_cu/);
    expect(silicaErrorOf(() => loadHardware('h200-sxm', ['memory.hbm.knee_exponent=-1']))).toMatch(/memory\.hbm\.knee_exponent/);
    // 40 SMs x 95 GB/s < 4.22 TB/s: the knee's C would be infinite, so the copy runs at its ports' rate.
    const cut = loadHardware('h200-sxm', ['compute.cus=40', 'memory.hbm.knee_calibrated_cus=40']);
    expect(hbmKnee(cut)).toBeUndefined();
    expect(copyGbps(cut, 40) / (40 * cut.compute.dram_gbps_per_cu!)).toBeGreaterThan(0.99);
    // Just above the threshold C is huge, so the knee barely acts: continuous across it.
    const justAbove = loadHardware('h200-sxm', ['compute.cus=45', 'memory.hbm.knee_calibrated_cus=45']);
    expect(copyGbps(justAbove, 45) / (45 * justAbove.compute.dram_gbps_per_cu!)).toBeGreaterThan(0.96);
  });
});
