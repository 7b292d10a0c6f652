import { describe, expect, it } from 'vitest';
import { loadHardware, listPresets } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { firstNCus, parseCuMask, fullCuSet } from '../../src/hw/gpu/cu-mask.js';
import { simulateKernel } from '../../src/hw/system.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { rowReductionCost } from '../../src/kernels/reduction.js';
import { hbmBytesPerNs, matrixFlopsPerNsPerCu } from '../../src/hw/gpu/kernel-timing.js';
import type { Dtype } from '../../src/hw/config/schema.js';

const gemmTflops = (hw: string, m: number, n: number, k: number, dtype: Dtype = 'bf16') => {
  const cfg = loadHardware(hw);
  const kernel = gemmCost(cfg, { m, n, k, dtype });
  const run = simulateKernel(cfg, kernel);
  return { tflops: kernel.flops / run.timeNs / 1000, timeNs: run.timeNs, kernel, cfg };
};

describe('hardware presets', () => {
  it('ships every preset the design card names and each validates', () => {
    const names = listPresets();
    for (const p of ['mi300x', 'mi250x-gcd', 'mi210', 'mi100', 'h100-sxm', 'a100-sxm', 't3-baseline']) {
      expect(names).toContain(p);
      expect(loadHardware(p).name).toBe(p);
    }
  });

  it('the H200 preset is the H100 one but for its memory, L2 and measured clock', () => {
    // The H200 validation points (validation/h200-measured.yaml) test a what-if: the H100 with
    // HBM3e. That holds only while nothing else drifts between the two presets.
    const differing: string[] = [];
    const walk = (a: unknown, b: unknown, path: string): void => {
      if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
        for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
          walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
        }
      } else if (a !== b) differing.push(path);
    };
    walk(loadHardware('h100-sxm'), loadHardware('h200-sxm'), '');
    expect(differing.sort()).toEqual([
      'compute.clock_sustained_mhz',
      'description',
      'memory.hbm.capacity_bytes',
      'memory.hbm.channels',
      'memory.hbm.peak_gbps',
      'memory.hbm.stacks',
      'memory.l2.bytes',
      'name',
    ]);
  });

  it('peak matrix rates reproduce the spec sheets at the peak clock', () => {
    const mi = loadHardware('mi300x');
    expect((mi.compute.cus * mi.compute.matrix_flops_per_clock_per_cu.bf16! * mi.compute.clock_peak_mhz) / 1e6).toBeCloseTo(1307.4, 0);
    const h = loadHardware('h100-sxm');
    expect((h.compute.cus * h.compute.matrix_flops_per_clock_per_cu.bf16! * 1830) / 1e6).toBeCloseTo(989.4, 0);
  });

  it('no CDNA preset runs a vector dtype faster than a packed FMA on every lane', () => {
    // A CDNA CU has 4 SIMDs of 16 lanes (a wave64 instruction takes 4 cycles). The widest vector FMA is
    // packed: v_pk_fma_f32 / v_pk_fma_f16 do 2 FMAs per lane per clock, and bf16 has nothing faster
    // (v_dot2 is also 4 FLOP per lane). So 64 lanes x 2 FMAs x 2 FLOP = 256 FLOP/clk/CU for any dtype;
    // unlike NVIDIA's half2, packed FP16 is not twice the packed FP32 rate.
    const packedFmaFlopsPerClockPerCu = 4 * 16 * 2 * 2;
    const amd = listPresets().map((p) => loadHardware(p)).filter((c) => c.vendor === 'amd');
    expect(amd.length).toBeGreaterThanOrEqual(4);
    for (const c of amd) {
      for (const [dtype, rate] of Object.entries(c.compute.vector_flops_per_clock_per_cu)) {
        expect(rate, `${c.name} vector ${dtype}`).toBeLessThanOrEqual(packedFmaFlopsPerClockPerCu);
      }
    }
    // S1: MI300X vector FP32 163.4 TF (the packed rate) at the peak clock.
    const mi = loadHardware('mi300x');
    expect((mi.compute.cus * mi.compute.vector_flops_per_clock_per_cu.fp32! * mi.compute.clock_peak_mhz) / 1e6).toBeCloseTo(163.4, 0);
  });
});

describe('MI300X CU masks', () => {
  const layout = makeCuLayout(loadHardware('mi300x').compute);
  it('maps bit i to XCD i mod 8', () => {
    const set = parseCuMask(layout, '0x3F');
    expect(Array.from(set.perGroup)).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    const xcd0 = parseCuMask(layout, '0x0101010101');
    expect(Array.from(xcd0.perGroup)).toEqual([5, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('spreads --cus N evenly over XCDs', () => {
    expect(Array.from(firstNCus(layout, 152).perGroup)).toEqual(Array(8).fill(19));
  });
  it('reports a mask that starves an XCD instead of ignoring it', () => {
    const cfg = loadHardware('mi300x');
    const kernel = gemmCost(cfg, { m: 4096, n: 4096, k: 4096, dtype: 'bf16' });
    expect(() => simulateKernel(cfg, kernel, parseCuMask(layout, '0x3F'))).toThrow(/XCD 6, 7 without CUs/);
  });
  it('rejects a mask wider than the part', () => {
    expect(() => parseCuMask(layout, '0x1' + '0'.repeat(76))).toThrow(/bit 304 is set but the part has only 304 CUs/);
  });
  it('runs a GEMM on XCDs a mask leaves partly empty when a tile keeps its few workgroups on the enabled ones', () => {
    // Workgroup i goes to XCD i mod 8: a grid of w < 8 workgroups reaches XCDs 0..w-1 only.
    const cfg = loadHardware('mi300x');
    const shape = { m: 128, n: 128, k: 128, dtype: 'bf16' as const };
    const reached = (mask: string) => {
      const set = parseCuMask(layout, mask);
      const kernel = gemmCost(cfg, shape, set);
      for (let g = 0; g < Math.min(kernel.workgroups, 8); g++) expect(set.perGroup[g]).toBeGreaterThan(0);
      return simulateKernel(cfg, kernel, set).timeNs;
    };
    // Nested masks (0x1 within 0x3 within 0xF within 0xFF): more CUs never slows the GEMM.
    const times = ['0x1', '0x3', '0xF', '0xFF'].map(reached);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeLessThanOrEqual(times[i - 1]!);
    // A grid that must reach a starved XCD still names only the XCDs it reaches.
    const k4096 = gemmCost(cfg, { m: 4096, n: 4096, k: 4096, dtype: 'bf16' });
    expect(() => simulateKernel(cfg, { ...k4096, workgroups: 3 }, parseCuMask(layout, '0x3'))).toThrow(/XCD 2 without CUs.*each of XCDs 0-2/);
  });
});

describe('GEMM model against measured max-achievable figures (±15%)', () => {
  // Reference: hardware.md B1.1 (S24 for MI300X, S25 for H100 and A100).
  const cases: Array<[string, number, number, number, number]> = [
    ['mi300x', 4096, 4864, 32896, 708],
    ['h100-sxm', 2048, 2048, 13312, 794.5],
    ['a100-sxm', 1024, 10240, 5120, 271.2],
  ];
  for (const [hw, m, n, k, measured] of cases) {
    it(`${hw} bf16 ${m}x${n}x${k} ~ ${measured} TFLOP/s`, () => {
      const { tflops } = gemmTflops(hw, m, n, k);
      expect(Math.abs(tflops / measured - 1)).toBeLessThan(0.15);
    });
  }
});

describe('STREAM model against BabelStream (±10%)', () => {
  // hardware.md B2 (S23): copy / mul / add / triad in TB/s.
  const measured: Record<string, number[]> = { mi300x: [4.11, 4.26, 4.14, 4.09], 'h100-sxm': [2.9, 2.9, 2.97, 2.97], 'a100-sxm': [1.61, 1.61, 1.7, 1.7] };
  for (const [hw, figures] of Object.entries(measured)) {
    (['copy', 'scale', 'add', 'triad'] as const).forEach((op, i) => {
      it(`${hw} ${op}`, () => {
        const cfg = loadHardware(hw);
        const kernel = streamCost(op, 2 ** 30);
        const run = simulateKernel(cfg, kernel);
        const tbps = (kernel.hbmReadBytes + kernel.hbmWriteBytes) / run.timeNs / 1000;
        expect(Math.abs(tbps / figures[i]! - 1)).toBeLessThan(0.1);
      });
    });
  }
});

describe('physics and invariants', () => {
  const cfg = loadHardware('mi300x');
  it('is never faster than peak compute or peak bandwidth', () => {
    for (const [m, n, k] of [[64, 64, 64], [8192, 8192, 8192], [1, 4096, 4096], [13, 17, 19], [100000, 128, 128]]) {
      for (const dtype of ['fp32', 'fp16', 'bf16', 'fp8'] as Dtype[]) {
        const kernel = gemmCost(cfg, { m: m!, n: n!, k: k!, dtype });
        const t = simulateKernel(cfg, kernel).timeNs;
        const peakFlopsPerNs = (cfg.compute.cus * cfg.compute.matrix_flops_per_clock_per_cu[dtype]! * cfg.compute.clock_peak_mhz) / 1000;
        expect(kernel.flops / t).toBeLessThanOrEqual(peakFlopsPerNs);
        expect((kernel.hbmReadBytes + kernel.hbmWriteBytes) / t).toBeLessThanOrEqual(cfg.memory.hbm.peak_gbps);
      }
    }
  });

  it('a TF32 GEMM is never slower than the fp32 one (a part without TF32 runs it in fp32)', () => {
    for (const name of listPresets()) {
      const hw = loadHardware(name);
      const time = (dtype: Dtype) => simulateKernel(hw, gemmCost(hw, { m: 8192, n: 8192, k: 8192, dtype })).timeNs;
      expect(time('tf32'), name).toBeLessThanOrEqual(time('fp32'));
    }
  });

  it('a skinny GEMM reads each operand block once: never faster with one more column, or on fewer CUs', () => {
    // N = 64 is one tile column: the old per-wave charge counted a partial last wave as a full
    // one, so these read up to 40% more than their operands (found by an invariant search).
    const run = (hw: string, m: number, n: number, k: number, dtype: Dtype, cus?: number) => {
      const part = loadHardware(hw);
      const set = cus === undefined ? undefined : firstNCus(makeCuLayout(part.compute), cus);
      const kernel = gemmCost(part, { m, n, k, dtype }, set);
      return { timeNs: simulateKernel(part, kernel, set).timeNs, readBytes: kernel.hbmReadBytes };
    };
    const all = run('mi100', 16384, 64, 3000, 'fp32');
    expect(all.timeNs).toBeLessThanOrEqual(run('mi100', 16384, 64, 3000, 'fp32', 93).timeNs * (1 + 1e-9));
    expect(all.readBytes).toBeLessThanOrEqual((16384 + 64) * 3000 * 4 * 1.01);
    const n64 = run('mi210', 16384, 64, 2048, 'fp16').timeNs;
    for (const n of [65, 128]) expect(run('mi210', 16384, n, 2048, 'fp16').timeNs, `n = ${n}`).toBeGreaterThanOrEqual(n64 * (1 - 1e-9));
  });

  it('time is non-decreasing in M, N, K and bytes', () => {
    const time = (m: number, n: number, k: number) => simulateKernel(cfg, gemmCost(cfg, { m, n, k, dtype: 'bf16' })).timeNs;
    for (const base of [256, 1000, 4096]) {
      let prev = 0;
      for (let m = base; m <= base * 8; m += base / 2) {
        const t = time(m, base, base);
        expect(t).toBeGreaterThanOrEqual(prev * (1 - 1e-9));
        prev = t;
      }
      prev = 0;
      for (let k = base; k <= base * 8; k += base / 2) {
        const t = time(base, base, k);
        expect(t).toBeGreaterThanOrEqual(prev * (1 - 1e-9));
        prev = t;
      }
      prev = 0;
      for (let n = base; n <= base * 8; n += base / 2) {
        const t = time(base, n, base);
        expect(t).toBeGreaterThanOrEqual(prev * (1 - 1e-9));
        prev = t;
      }
    }
    let prev = 0;
    for (let bytes = 2 ** 20; bytes <= 2 ** 32; bytes *= 2) {
      const t = simulateKernel(cfg, streamCost('copy', bytes)).timeNs;
      expect(t).toBeGreaterThan(prev);
      prev = t;
    }
  });

  it('a small streaming kernel does not speed up past a workgroup boundary (its fullest workgroup is the critical path)', () => {
    // H100: one SM draws at most ~95 GB/s from DRAM, so a kernel of a few workgroups runs at its
    // fullest workgroup's pace. 4096 fp64 elements fill one workgroup; one more starts a second.
    const h100 = loadHardware('h100-sxm');
    for (const elements of [4096, 8192, 40960]) {
      const at = (n: number) => simulateKernel(h100, streamCost('copy', n * 8)).timeNs;
      for (const extra of [1, 7, 2048]) expect(at(elements + extra), `${elements} + ${extra}`).toBeGreaterThanOrEqual(at(elements));
    }
    const rows = (n: number) => simulateKernel(h100, rowReductionCost({ name: 'ln', kind: 'layernorm', rows: n, cols: 1024, dtype: 'bf16' })).timeNs;
    for (const n of [4, 8, 64]) expect(rows(n + 1), `${n} + 1 rows`).toBeGreaterThanOrEqual(rows(n));
  });

  it('halving the CUs roughly doubles a compute-bound GEMM and barely changes a copy', () => {
    const layout = makeCuLayout(cfg.compute);
    const gemm = gemmCost(cfg, { m: 8192, n: 8192, k: 8192, dtype: 'bf16' });
    const half = firstNCus(layout, 152);
    const gemmHalf = gemmCost(cfg, { m: 8192, n: 8192, k: 8192, dtype: "bf16" }, half);
    const ratio = simulateKernel(cfg, gemmHalf, half).timeNs / simulateKernel(cfg, gemm, fullCuSet(layout)).timeNs;
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(2.2);
    const copy = streamCost('copy', 2 ** 30);
    const copyRatio = simulateKernel(cfg, copy, half).timeNs / simulateKernel(cfg, copy).timeNs;
    expect(copyRatio).toBeLessThan(1.1);
  });

  it('identical inputs give identical outputs', () => {
    const a = gemmTflops('h100-sxm', 3000, 5000, 7000);
    const b = gemmTflops('h100-sxm', 3000, 5000, 7000);
    expect(a.timeNs).toBe(b.timeNs);
    expect(a.kernel).toEqual(b.kernel);
  });

  it('a GEMM costed again (its tile choice remembered) is the kernel a fresh search gives, as a new object', () => {
    // Two loads of the same content under differently ordered overrides: separate objects, so the
    // second one's tile choices are searched anew, while the first's are remembered.
    const warm = loadHardware('mi300x', ['memory.hbm.efficiency=0.77', 'compute.kernel_launch_ns=4000']);
    const cold = loadHardware('mi300x', ['compute.kernel_launch_ns=4000', 'memory.hbm.efficiency=0.77']);
    expect(cold).not.toBe(warm);
    for (const [m, n, k] of [[1, 8192, 8192], [4096, 4096, 4096], [300, 5000, 70000]] as const) {
      for (const cus of [8, 100, 304]) {
        const first = gemmCost(warm, { m, n, k, dtype: 'bf16' }, cus);
        first.perWorkgroup.matrixFlops = -1; // a caller's edit must not reach the next caller
        const again = gemmCost(warm, { m, n, k, dtype: 'bf16' }, cus);
        expect(again).not.toBe(first);
        expect(again).toEqual(gemmCost(cold, { m, n, k, dtype: 'bf16' }, cus));
      }
    }
  });

  it('rates helpers agree with the config', () => {
    expect(hbmBytesPerNs(cfg)).toBeCloseTo(5325 * 0.78, 6);
    expect(matrixFlopsPerNsPerCu(cfg, 'bf16')).toBeCloseTo(2048 * 1.207 * 0.94, 6);
  });
});
