import { describe, expect, it } from 'vitest';
import { listPresets, loadHardware } from '../../src/hw/config/load.js';
import { simulateKernel } from '../../src/hw/system.js';
import { costKernel, kernelOps, type KernelDesc } from '../../src/kernels/desc.js';

/**
 * Every kernel model, on every preset, obeys the roofline: no faster than the part's peak FLOP
 * rate (matrix and vector pipes together, at the peak clock) or its peak HBM bandwidth; a whole
 * grid of the fullest workgroup's work covers the kernel's FLOPs; every count is finite and
 * non-negative. A new model (one more op in KERNEL_MODELS) gives shapes here, small and large,
 * and is held to the same bounds; the first test fails until it does.
 */
const SAMPLES: Record<string, KernelDesc[]> = {
  gemm: [
    { op: 'gemm', m: 1, n: 4096, k: 4096, dtype: 'bf16' },
    { op: 'gemm', m: 8192, n: 8192, k: 8192, dtype: 'bf16' },
    { op: 'gemm', m: 13, n: 17, k: 19, dtype: 'fp32', batch: 3 },
  ],
  elementwise: [
    { op: 'elementwise', name: 'gelu', elements: 1 << 24, inputs: 1, outputs: 1, flopsPerElement: 8, transcendentalsPerElement: 1, dtype: 'bf16' },
    { op: 'elementwise', name: 'add', elements: 1000, inputs: 2, outputs: 1, flopsPerElement: 1, dtype: 'fp32', extraReadBytes: 64 },
  ],
  reduction: [
    { op: 'reduction', name: 'softmax', kind: 'softmax', rows: 4096, cols: 4096, dtype: 'bf16' },
    { op: 'reduction', name: 'ln.bwd', kind: 'layernorm', rows: 9, cols: 8192, dtype: 'fp16', backward: true },
    { op: 'reduction', name: 'rms', kind: 'rmsnorm', rows: 1, cols: 128, dtype: 'bf16' },
  ],
  attention: [
    { op: 'attention', batch: 4, heads: 32, kvHeads: 8, qLen: 2048, kvLen: 2048, headDim: 128, causal: true, dtype: 'bf16' },
    { op: 'attention', batch: 64, heads: 64, kvHeads: 8, qLen: 1, kvLen: 4096, headDim: 128, causal: false, dtype: 'bf16' },
    { op: 'attention', batch: 2, heads: 16, kvHeads: 16, qLen: 512, kvLen: 512, headDim: 64, causal: false, dtype: 'fp16', backward: true },
  ],
  memcpy: [
    { op: 'memcpy', bytes: 1 << 30 },
    { op: 'memcpy', bytes: 64 },
  ],
  generic: [
    { op: 'generic', name: 'comp', flops: 1e12, bytesRead: 1e9, bytesWritten: 1e8, dtype: 'bf16', matrix: true },
    { op: 'generic', name: 'vec', flops: 1e6, bytesRead: 1e6, bytesWritten: 1e6, dtype: 'fp32' },
  ],
};

describe('every kernel model', () => {
  it('has sample shapes here', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(kernelOps());
  });

  for (const part of listPresets()) {
    it(`${part}: never faster than peak FLOPs or peak HBM bandwidth; its grid covers its work`, () => {
      const hw = loadHardware(part);
      const c = hw.compute;
      for (const desc of Object.values(SAMPLES).flat()) {
        const what = `${part} ${JSON.stringify(desc)}`;
        const k = costKernel(hw, desc);
        const w = k.perWorkgroup;
        expect(Number.isInteger(k.workgroups) && k.workgroups >= 1, what).toBe(true);
        for (const v of [k.flops, k.hbmReadBytes, k.hbmWriteBytes, w.matrixFlops, w.vectorFlops, w.cuBytes, w.dramBytes ?? 0, w.transcendentalOps ?? 0]) {
          expect(Number.isFinite(v) && v >= 0, what).toBe(true);
        }
        expect(k.workgroups * (w.matrixFlops + w.vectorFlops), what).toBeGreaterThanOrEqual(k.flops * (1 - 1e-12));
        const t = simulateKernel(hw, k).timeNs;
        expect(t > 0 && Number.isFinite(t), what).toBe(true);
        const perClock = (c.matrix_flops_per_clock_per_cu[k.dtype] ?? 0) + (c.vector_flops_per_clock_per_cu[k.dtype] ?? 0) + (c.vector_flops_per_clock_per_cu.fp32 ?? 0);
        expect(k.flops / t, what).toBeLessThanOrEqual((c.cus * perClock * c.clock_peak_mhz) / 1000);
        expect((k.hbmReadBytes + k.hbmWriteBytes) / t, what).toBeLessThanOrEqual(hw.memory.hbm.peak_gbps);
      }
    });
  }
});
