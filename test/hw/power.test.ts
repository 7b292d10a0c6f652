import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, firstNCus, fullCuSet } from '../../src/hw/gpu/cu-mask.js';
import { timeKernel } from '../../src/hw/gpu/kernel-timing.js';
import { hbmKnee, hbmLoadShare } from '../../src/hw/memory/hbm-knee.js';
import { aloneClockAndPower, clockUnderCapMhz, kernelDynamicW, type PowerConfig } from '../../src/hw/gpu/power.js';
import { simulateKernel } from '../../src/hw/system.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { chromeTrace } from '../../src/trace/chrome.js';
import { replayTrace } from '../../src/trace/replay.js';
import type { Trace, TraceNode } from '../../src/trace/types.js';
import { corunWindows, type CorunSide } from '../../src/hw/corun.js';
import { Stream } from '../../src/hw/gpu/gpu.js';
import { System } from '../../src/hw/system.js';
import type { HardwareConfig } from '../../src/hw/config/schema.js';
import type { KernelCost } from '../../src/kernels/types.js';
import type { KernelPace } from '../../src/hw/gpu/pace.js';

const POWER: PowerConfig = { cap_w: 700, static_w: 100, tensor_w_per_tflops: 1, dram_w_per_tbps: 150, clock_exponent: 3 };
/** The same part with a cap so high it never binds: what silica did before the governor. */
const UNCAPPED = ['compute.power.cap_w=1e12'];

describe('the clock under the power cap (closed forms)', () => {
  it('is the peak clock while the work fits, and above that the clock at which the board draws exactly the cap', () => {
    expect(clockUnderCapMhz(POWER, 1980, 0)).toBe(1980);
    expect(clockUnderCapMhz(POWER, 1980, 600)).toBe(1980);
    for (const dynamicW of [601, 800, 1200, 5000]) {
      const mhz = clockUnderCapMhz(POWER, 1980, dynamicW);
      expect(mhz).toBeLessThan(1980);
      expect(POWER.static_w + dynamicW * (mhz / 1980) ** 3).toBeCloseTo(POWER.cap_w, 9);
    }
  });

  it('falls as work is added, and a higher cap never lowers it', () => {
    let last = Infinity;
    for (let w = 0; w <= 3000; w += 50) {
      const mhz = clockUnderCapMhz(POWER, 1980, w);
      expect(mhz).toBeLessThanOrEqual(last);
      expect(clockUnderCapMhz({ ...POWER, cap_w: 900 }, 1980, w)).toBeGreaterThanOrEqual(mhz);
      last = mhz;
    }
  });

  it("a kernel's dynamic power is its tensor TFLOP/s and DRAM TB/s at its isolated rates, times the energies", () => {
    const hw = loadHardware('h200-sxm');
    const set = firstNCus(makeCuLayout(hw.compute), 32);
    const kernel = gemmCost(hw, { m: 4096, n: 4096, k: 4096, batch: 1, dtype: 'bf16' }, set);
    const t = timeKernel(hw, makeCuLayout(hw.compute), set, kernel);
    const seconds = t.isolatedNs * 1e-9;
    const expected = POWER.tensor_w_per_tflops * (kernel.flops / seconds / 1e12) + POWER.dram_w_per_tbps * (t.hbmBytes / seconds / 1e12);
    expect(kernelDynamicW(POWER, kernel, t)).toBeCloseTo(expected, 9);
  });
});

describe('the power governor on a GPU (compute.power in the H100 and H200 presets)', () => {
  const hw = loadHardware('h200-sxm');
  const layout = makeCuLayout(hw.compute);

  it('leaves a kernel alone at its calibrated time, whatever its own clock (the governor is relative)', () => {
    const uncapped = loadHardware('h200-sxm', UNCAPPED);
    for (const cus of [8, 72, 132]) {
      const set = firstNCus(layout, cus);
      for (const kernel of [gemmCost(hw, { m: 8192, n: 8192, k: 8192, batch: 1, dtype: 'bf16' }, set), streamCost('copy', 1 << 28)]) {
        expect(simulateKernel(hw, kernel, set).timeNs).toBe(simulateKernel(uncapped, kernel, set).timeNs);
      }
    }
  });

  it('the 4096^3 GEMM holds the peak clock on 64 SMs and is held under it on 96 and 128, as measured', () => {
    const clock = (cus: number) => {
      const set = firstNCus(layout, cus);
      const kernel = gemmCost(hw, { m: 4096, n: 4096, k: 4096, batch: 1, dtype: 'bf16' }, set);
      return aloneClockAndPower(hw, kernel, timeKernel(hw, layout, set, kernel))!;
    };
    expect(clock(64).mhz).toBe(1980);
    expect(clock(96).mhz).toBeLessThan(1980);
    expect(clock(128).mhz).toBeLessThan(clock(96).mhz);
    expect(clock(128).watts).toBeCloseTo(700, 6);
    expect(aloneClockAndPower(loadHardware('mi300x'), streamCost('copy', 1 << 20), timeKernel(hw, layout, firstNCus(layout, 8), streamCost('copy', 1 << 20)))).toBeUndefined();
  });

  const gemmSide = (cus: number, from: number, part = hw): CorunSide => {
    const set = cuRange(makeCuLayout(part.compute), from, cus);
    return { kernels: [gemmCost(part, { m: 8192, n: 2048, k: 8192, batch: 1, dtype: 'bf16' }, set)], set, reps: 20 };
  };
  const copySide = (cus: number, from: number, part = hw): CorunSide => ({ kernels: [streamCost('copy', 1 << 29)], set: cuRange(makeCuLayout(part.compute), from, cus), reps: 20 });

  it('co-running kernels run the chip at a lower clock than either alone, and slow at least as much as without the cap', () => {
    const uncapped = loadHardware('h200-sxm', UNCAPPED);
    const capped = corunWindows(hw, gemmSide(72, 0), gemmSide(60, 72));
    const free = corunWindows(uncapped, gemmSide(72, 0, uncapped), gemmSide(60, 72, uncapped));
    expect(capped.togetherMhz).toBeLessThan(Math.min(capped.aAloneMhz, capped.bAloneMhz));
    expect(free.togetherMhz).toBe(1980);
    // Alone, the cap changes nothing (the governor is relative); together, it only slows.
    expect(capped.aAloneNs).toBe(free.aAloneNs);
    expect(capped.bAloneNs).toBe(free.bAloneNs);
    expect(capped.aTogetherNs).toBeGreaterThan(free.aTogetherNs);
    expect(capped.bTogetherNs).toBeGreaterThan(free.bTogetherNs);
  });

  it('a higher cap never slows either side of a co-run', () => {
    const at = (capW: number) => {
      const part = loadHardware('h200-sxm', [`compute.power.cap_w=${capW}`]);
      return corunWindows(part, gemmSide(104, 0, part), copySide(28, 104, part));
    };
    const low = at(600);
    const mid = at(700);
    const high = at(900);
    for (const side of ['aTogetherNs', 'bTogetherNs'] as const) {
      expect(mid[side]).toBeLessThanOrEqual(low[side] * (1 + 1e-12));
      expect(high[side]).toBeLessThanOrEqual(mid[side] * (1 + 1e-12));
    }
  });

  it('a copy held by its SMs\' DRAM rate slows by the clock ratio, times the HBM\'s load: the rate is per SM clock (measured on an H200)', () => {
    // 8 SMs move 760 GB/s, far below the HBM's rate, beside a GEMM on the other 124 that outlasts
    // the copy: the clock is constant over the copy's window, and it slows the copy, as does the
    // GEMM's own DRAM traffic through the HBM's knee (the requests of the copy wait a little longer).
    const copy = copySide(8, 0);
    const gemm: CorunSide = { ...gemmSide(124, 8), reps: 200 };
    const power = hw.compute.power!;
    const [copyT, gemmT] = [copy, gemm].map((side) => timeKernel(hw, layout, side.set, side.kernels[0]!));
    expect(copyT!.followsClock && gemmT!.followsClock).toBe(true);
    const copyW = kernelDynamicW(power, copy.kernels[0]!, copyT!);
    const gemmW = kernelDynamicW(power, gemm.kernels[0]!, gemmT!);
    const clockAlone = clockUnderCapMhz(power, hw.compute.clock_peak_mhz, copyW);
    const clockTogether = clockUnderCapMhz(power, hw.compute.clock_peak_mhz, copyW + gemmW);
    expect(clockTogether).toBeLessThan(clockAlone);
    const knee = hbmKnee(hw)!;
    const loadRatio = hbmLoadShare(copyT!.hbmDemandBytesPerNs, knee) / hbmLoadShare(copyT!.hbmDemandBytesPerNs + gemmT!.hbmDemandBytesPerNs, knee);
    expect(loadRatio).toBeGreaterThan(1);
    const w = corunWindows(hw, copy, gemm);
    expect(w.bTogetherNs).toBeGreaterThan(w.aTogetherNs);
    // To 0.5%: each launch's fixed latency (launch, first access: 0.14% of a copy) keeps its time.
    expect(w.aTogetherNs / w.aAloneNs).toBeCloseTo((clockAlone / clockTogether) * loadRatio, 2);
    expect(w.aTogetherNs / w.aAloneNs).toBeLessThanOrEqual((clockAlone / clockTogether) * loadRatio);
    // With the cap lifted the same pair leaves the copy slowed by the HBM's load alone.
    const uncapped = loadHardware('h200-sxm', UNCAPPED);
    const free = corunWindows(uncapped, copySide(8, 0, uncapped), { ...gemmSide(124, 8, uncapped), reps: 200 });
    expect(free.aTogetherNs / free.aAloneNs).toBeCloseTo(loadRatio, 2);
    // And without the knee either, by nothing: the clock and the load are all that slowed it.
    const hard = { ...uncapped, memory: { ...uncapped.memory, hbm: { ...uncapped.memory.hbm, knee_exponent: undefined } } };
    const none = corunWindows(hard, copySide(8, 0, hard), { ...gemmSide(124, 8, hard), reps: 200 });
    expect(none.aTogetherNs / none.aAloneNs).toBeCloseTo(1, 9);
  });

  it('a lower cap slows a kernel alone by its clock there against its clock under the calibration cap; a higher cap does not speed it', () => {
    const gemm = (part: typeof hw) => {
      const set = fullCuSet(makeCuLayout(part.compute));
      const kernel = gemmCost(part, { m: 8192, n: 8192, k: 8192, batch: 1, dtype: 'bf16' }, set);
      return { kernel, t: timeKernel(part, makeCuLayout(part.compute), set, kernel), ns: simulateKernel(part, kernel, set).timeNs };
    };
    const at700 = gemm(hw);
    const at400 = gemm(loadHardware('h200-sxm', ['compute.power.cap_w=400']));
    const power = hw.compute.power!;
    const dynamicW = kernelDynamicW(power, at700.kernel, at700.t);
    const clockRatio = clockUnderCapMhz(power, hw.compute.clock_peak_mhz, dynamicW) / clockUnderCapMhz({ ...power, cap_w: 400 }, hw.compute.clock_peak_mhz, dynamicW);
    expect(clockRatio).toBeGreaterThan(1.1);
    // Within 0.5%: the launch's fixed latency does not follow the clock.
    expect(Math.abs(at400.ns / at700.ns / clockRatio - 1)).toBeLessThan(0.005);
    expect(at400.ns / at700.ns).toBeLessThanOrEqual(clockRatio);
    expect(gemm(loadHardware('h200-sxm', ['compute.power.cap_w=1000'])).ns).toBe(at700.ns);
    // A part calibrated under the cap it runs at keeps its calibrated time alone (as before the field).
    expect(gemm(loadHardware('h200-sxm', ['compute.power.cap_w=400', 'compute.power.calibrated_cap_w=400'])).ns).toBe(at700.ns);
  });

  it('refuses a bad power field in one line naming it', () => {
    expect(() => loadHardware('h200-sxm', ['compute.power.cap_w=-5'])).toThrow(/compute\.power\.cap_w/);
    expect(() => loadHardware('h200-sxm', ['compute.power.watts=5'])).toThrow(/compute\.power/);
    expect(() => loadHardware('h200-sxm', ['compute.power.cap_w=100'])).toThrow(/compute\.power\.static_w.*expected less than cap_w \(100 W\)/);
    expect(() => loadHardware('h200-sxm', ['compute.power.calibrated_cap_w=100'])).toThrow(/compute\.power\.static_w.*expected less than calibrated_cap_w \(100 W\)/);
    expect(() => loadHardware('h200-sxm', ['compute.power.calibrated_cap_w=-1'])).toThrow(/compute\.power\.calibrated_cap_w/);
  });
});

describe('kernels that share SMs are charged for the work they do (the governor sets the clock after every solve)', () => {
  /** `streams` streams on the whole chip, each `reps` launches of `kernel`: the end (ns), the dynamic energy (nJ) and the clock steps. */
  const run = (hw: HardwareConfig, kernel: KernelCost, streams: number, reps: number) => {
    const system = new System(hw, 1);
    const gpu = system.gpus[0]!;
    gpu.governor!.recordSteps();
    const t = gpu.timing(kernel, gpu.allCus);
    for (let s = 0; s < streams; s++) {
      const stream = new Stream(gpu, `s${s}`, gpu.allCus);
      for (let i = 0; i < reps; i++) stream.enqueue(kernel, { timing: t });
    }
    const endNs = system.sim.run();
    return { endNs, dynamicNj: gpu.records.reduce((sum, r) => sum + r.dynamicEnergyNj!, 0), steps: gpu.governor!.clockSteps() };
  };
  /** The part without the HBM's knee: what is left is the flow solver's sharing and the governor. */
  const noKnee = (part: HardwareConfig): HardwareConfig => ({ ...part, memory: { ...part.memory, hbm: { ...part.memory.hbm, knee_exponent: undefined } } });
  const kernels = (part: HardwareConfig): Record<string, KernelCost> => {
    const set = fullCuSet(makeCuLayout(part.compute));
    const gemm = (m: number, n: number, k: number) => gemmCost(part, { m, n, k, batch: 1, dtype: 'bf16' }, set);
    // 64x8192x8192 and 8x8192x8192 are grids of one wave that leave a few SMs (the second waits on
    // them); the others fill the chip and take turns at the CU gate, the next starting in the last wave.
    return { '64x8192x8192': gemm(64, 8192, 8192), '8x8192x8192': gemm(8, 8192, 8192), '4096^3': gemm(4096, 4096, 4096), '8192x2048x8192': gemm(8192, 2048, 8192), '8192^3': gemm(8192, 8192, 8192), copy: streamCost('copy', 1 << 29) };
  };

  it('two identical kernels on the same SMs draw no more dynamic energy than the two back to back, under any cap (conservation of work)', () => {
    for (const name of ['h100-sxm', 'h200-sxm']) {
      for (const cap of [700, 500, 400]) {
        const part = noKnee(loadHardware(name, [`compute.power.cap_w=${cap}`]));
        for (const [kernel, cost] of Object.entries(kernels(part))) {
          const pair = run(part, cost, 2, 6);
          const backToBack = run(part, cost, 1, 12);
          expect(pair.dynamicNj, `${name} at ${cap} W: ${kernel}`).toBeLessThanOrEqual(backToBack.dynamicNj * (1 + 1e-9));
          // Nor do they run slower: the pair's SMs do the work of one kernel at a time, at its clock or above.
          expect(pair.endNs, `${name} at ${cap} W: ${kernel}`).toBeLessThanOrEqual(backToBack.endNs * (1 + 1e-9));
        }
      }
    }
  });

  it("on the presets as shipped, the pair is never slower than back to back by more than 0.5% at the cap (the H100's 64x8192x8192 pair, 20 launches each, was 0.949x)", () => {
    for (const name of ['h100-sxm', 'h200-sxm']) {
      const part = loadHardware(name);
      for (const [kernel, cost] of Object.entries(kernels(part))) {
        const speedup = run(part, cost, 1, 12).endNs / run(part, cost, 2, 6).endNs;
        expect(speedup, `${name}: ${kernel}`).toBeGreaterThanOrEqual(0.995);
      }
    }
    // The H100 case of docs/calibration.md: a 64x8192x8192 GEMM beside itself, 20 launches each,
    // gains what it gains with the cap lifted (the second kernel's few SMs), not less.
    const h100 = loadHardware('h100-sxm');
    const set = fullCuSet(makeCuLayout(h100.compute));
    const side: CorunSide = { kernels: [gemmCost(h100, { m: 64, n: 8192, k: 8192, batch: 1, dtype: 'bf16' }, set)], set, reps: 20 };
    const capped = corunWindows(h100, side, side);
    const free = corunWindows(loadHardware('h100-sxm', UNCAPPED), side, side);
    expect((capped.aAloneNs + capped.bAloneNs) / Math.max(capped.aTogetherNs, capped.bTogetherNs)).toBeGreaterThan(1);
    expect(free.togetherMhz).toBe(1980);
  });

  it('while one kernel waits for SMs the other holds, the clock is about that of the one running alone, not of both', () => {
    const part = loadHardware('h100-sxm');
    const cost = kernels(part)['64x8192x8192']!;
    const set = fullCuSet(makeCuLayout(part.compute));
    const { mhz: aloneMhz } = aloneClockAndPower(part, cost, timeKernel(part, makeCuLayout(part.compute), set, cost))!;
    const bothMhz = clockUnderCapMhz(part.compute.power!, part.compute.clock_peak_mhz, 2 * kernelDynamicW(part.compute.power!, cost, timeKernel(part, makeCuLayout(part.compute), set, cost)));
    const during = run(part, cost, 2, 3).steps.filter(([ns]) => ns > 0).map(([, mhz]) => mhz);
    expect(bothMhz).toBeLessThan(0.95 * aloneMhz);
    // The waiting kernel runs on the few SMs left (4 of 132): a little work, a little power.
    for (const mhz of during) expect(mhz).toBeGreaterThan(0.98 * aloneMhz);
  });

  it('with the knee on, a kernel that waits for SMs adds to the HBM\'s load only the demand of the work it does (its share of work)', () => {
    // An 8x8192x8192 GEMV-like GEMM beside itself on an H100: the first keeps 128 of the 132 SMs,
    // the second runs on the 4 left, doing 4/128 of its paced work.
    const part = loadHardware('h100-sxm');
    const cost = kernels(part)['8x8192x8192']!;
    const system = new System(part, 1);
    const gpu = system.gpus[0]!;
    const t = gpu.timing(cost, gpu.allCus);
    for (let s = 0; s < 2; s++) new Stream(gpu, `s${s}`, gpu.allCus).enqueue(cost, { timing: t });
    const seen: Array<{ share: number; work: number }> = [];
    system.sim.after(t.isolatedNs / 2, () => {
      system.sim.settleRates();
      // The load governor's kernels, in the order they started (a private field, read for the test).
      const running = (gpu.loadGovernor as unknown as { running: Array<{ pace: KernelPace }> }).running;
      for (const { pace } of running) seen.push({ share: pace.share!, work: pace.workShare() });
    });
    system.sim.run();
    const [running, waiting] = seen;
    expect(running!.work).toBe(1);
    expect(waiting!.work).toBeCloseTo(4 / 128, 9);
    // The load the running kernel's requests meet: its own ports' demand and the waiting kernel's
    // demand at its share of work (before: at its whole demand, capped only by the SMs' ports).
    const knee = hbmKnee(part)!;
    expect(running!.share).toBeCloseTo(hbmLoadShare(t.hbmPortDemandBytesPerNs + waiting!.work * t.hbmDemandBytesPerNs, knee), 12);
  });

  it('with the knee on, two identical kernels on the same SMs are no slower than back to back at 700 and 500 W (the H100\'s 64x8192x8192 pair at 500 W was 0.916x, drawing 1.134x the energy)', () => {
    for (const name of ['h100-sxm', 'h200-sxm']) {
      for (const cap of [700, 500]) {
        const part = loadHardware(name, [`compute.power.cap_w=${cap}`]);
        for (const [kernel, cost] of Object.entries(kernels(part))) {
          const pair = run(part, cost, 2, 6);
          const backToBack = run(part, cost, 1, 12);
          expect(pair.endNs, `${name} at ${cap} W: ${kernel}`).toBeLessThanOrEqual(backToBack.endNs * (1 + 1e-9));
          // The energy is a guard, not a conservation law: the extra SMs' requests really do add to
          // everyone's wait past the knee, drawn at the clock's power (2.4% at most on these pairs,
          // the H100's 8x8192x8192 at 700 W; docs/calibration.md). What must not come back is a
          // waiting kernel's whole demand on the HBM (1.13x the energy at 500 W before session 39).
          expect(pair.dynamicNj, `${name} at ${cap} W: ${kernel}`).toBeLessThanOrEqual(backToBack.dynamicNj * 1.05);
        }
      }
    }
  });

  it('is deterministic: the same co-run twice gives the same times, clocks and energy, bit for bit', () => {
    const part = loadHardware('h200-sxm');
    for (const cost of Object.values(kernels(part))) expect(run(part, cost, 2, 4)).toEqual(run(part, cost, 2, 4));
    // And on disjoint SMs, where the governor iterates clock and rates (the copy held by the HBM).
    const layout = makeCuLayout(part.compute);
    const gemm: CorunSide = { kernels: [gemmCost(part, { m: 8192, n: 2048, k: 8192, batch: 1, dtype: 'bf16' }, cuRange(layout, 0, 72))], set: cuRange(layout, 0, 72), reps: 10 };
    const copy: CorunSide = { kernels: [streamCost('copy', 1 << 29)], set: cuRange(layout, 72, 60), reps: 10 };
    expect(corunWindows(part, gemm, copy)).toEqual(corunWindows(part, gemm, copy));
    // And where both governors iterate (the H100 at 500 W: the clock and the HBM's load by the work done).
    const h100 = loadHardware('h100-sxm', ['compute.power.cap_w=500']);
    for (const cost of Object.values(kernels(h100))) expect(run(h100, cost, 2, 3)).toEqual(run(h100, cost, 2, 3));
  });
});

describe('the presets carry what scripts/calibrate-power.mjs derives from the measurements', () => {
  it('static_w, tensor_w_per_tflops and dram_w_per_tbps as the script prints them (a changed kernel model shows here)', () => {
    const out = execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/calibrate-power.mjs', import.meta.url))], { encoding: 'utf8' });
    const m = /^preset: static_w ([\d.]+), tensor_w_per_tflops ([\d.]+), dram_w_per_tbps ([\d.]+)$/m.exec(out);
    expect(m).not.toBeNull();
    for (const part of ['h200-sxm', 'h100-sxm']) {
      const power = loadHardware(part).compute.power!;
      expect([power.static_w, power.tensor_w_per_tflops, power.dram_w_per_tbps]).toEqual([Number(m![1]), Number(m![2]), Number(m![3])]);
    }
  });
});

describe('the SM clock in a replay trace', () => {
  // Two streams of GEMMs whose grids (64 tiles) each fill half the chip: they run side by side.
  const gemmNode = (id: number, stream: string): TraceNode => ({
    id,
    name: `gemm${id}`,
    kind: 'kernel',
    category: 'gemm',
    pass: 'fwd',
    deps: [],
    stream,
    kernel: { op: 'gemm', m: 1024, n: 1024, k: 16384, dtype: 'bf16' },
  });
  const trace: Trace = { meta: { test: 'power' }, worldSize: 1, programs: [[gemmNode(0, 'a'), gemmNode(1, 'b')]] };

  it('is a counter track that falls while the two streams co-run, and is absent on a part without a power model', () => {
    const r = replayTrace(trace, loadHardware('h100-sxm'));
    const counters = chromeTrace(r.records, {}, r.clocks).traceEvents.filter((e) => e.ph === 'C');
    const mhz = counters.map((e) => (e.args as { MHz: number }).MHz);
    expect(mhz[0]).toBe(1980);
    expect(Math.min(...mhz)).toBeLessThan(1980);
    expect(mhz.every((m) => m > 0 && m <= 1980)).toBe(true);
    // The two GEMMs overlap: with the cap lifted they would finish sooner.
    expect(replayTrace(trace, loadHardware('h100-sxm', UNCAPPED)).totalNs).toBeLessThan(r.totalNs);
    const amd = replayTrace(trace, loadHardware('mi300x'));
    expect(chromeTrace(amd.records, {}, amd.clocks).traceEvents.some((e) => e.ph === 'C')).toBe(false);
  });
});
