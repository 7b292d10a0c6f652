import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import type { HardwareConfig } from '../../src/hw/config/schema.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { firstNCus, fullCuSet } from '../../src/hw/gpu/cu-mask.js';
import { simulateKernel } from '../../src/hw/system.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { gemmCost } from '../../src/kernels/gemm.js';

/**
 * Faster hardware never makes a kernel slower: each rate field of each preset at 0.5-2x, a grid of
 * GEMMs (skinny, square, long-K) and streams, on the whole chip and on part of it. Session 36 found
 * five cases on the H100 and H200 (a faster clock or L1 slowed a skinny GEMM up to 5%, through the
 * HBM knee), which this would have caught.
 */
const PRESETS = ['mi300x', 'h100-sxm', 'h200-sxm', 'a100-sxm', 'mi210', 't3-baseline'];
const FIELDS = [
  'memory.hbm.peak_gbps',
  'memory.hbm.efficiency',
  'compute.clock_peak_mhz',
  'compute.clock_sustained_mhz',
  'compute.l1_bytes_per_clock_per_cu',
  'compute.dram_gbps_per_cu',
  'compute.power.cap_w',
];
const FACTORS = [0.5, 0.8, 1.25, 2];

type Kernel = { gemm: { m: number; n: number; k: number } } | { stream: 'copy' | 'triad'; bytes: number };
const KERNELS: Kernel[] = [
  ...[1, 64, 1024, 8192].flatMap((m) => [16, 4096].flatMap((n) => [512, 8192].map((k) => ({ gemm: { m, n, k } })))),
  ...(['copy', 'triad'] as const).flatMap((stream) => [2 ** 22, 2 ** 28].map((bytes) => ({ stream, bytes }))),
];

const fieldOf = (hw: HardwareConfig, path: string): number | undefined =>
  path.split('.').reduce<unknown>((o, key) => (o as Record<string, unknown> | undefined)?.[key], hw) as number | undefined;

/** The part with `field` scaled, or undefined where the preset has no such field or refuses the value. */
function scaled(part: string, base: HardwareConfig, field: string, factor: number): HardwareConfig | undefined {
  const v0 = fieldOf(base, field);
  if (v0 === undefined) return undefined;
  let v = v0 * factor;
  if (field.endsWith('efficiency')) v = Math.min(1, v);
  if (field === 'compute.clock_sustained_mhz') v = Math.min(v, base.compute.clock_peak_mhz);
  try {
    return loadHardware(part, [`${field}=${v}`]);
  } catch {
    return undefined; // e.g. a cap below the static power
  }
}

function timeNs(hw: HardwareConfig, kernel: Kernel, wholeChip: boolean): number {
  const layout = makeCuLayout(hw.compute);
  const set = wholeChip ? fullCuSet(layout) : firstNCus(layout, Math.max(8, Math.floor(hw.compute.cus * 0.4)));
  const cost = 'gemm' in kernel ? gemmCost(hw, { ...kernel.gemm, dtype: 'bf16' }, set) : streamCost(kernel.stream, kernel.bytes);
  return simulateKernel(hw, cost, set).timeNs;
}

describe('faster hardware never slows a kernel alone', () => {
  for (const part of PRESETS) {
    it(`${part}: every rate field at 0.5-2x, ${KERNELS.length} kernels, whole chip and 40% of it`, () => {
      const base = loadHardware(part);
      for (const field of FIELDS) {
        const parts = FACTORS.map((f) => scaled(part, base, field, f));
        for (const kernel of KERNELS) {
          for (const wholeChip of [true, false]) {
            let last: { ns: number; factor: number } | undefined;
            parts.forEach((hw, i) => {
              if (!hw) return;
              const ns = timeNs(hw, kernel, wholeChip);
              if (last) expect(ns, `${field} x${last.factor} -> x${FACTORS[i]}: ${JSON.stringify(kernel)} on ${wholeChip ? 'the whole chip' : '40%'}`).toBeLessThanOrEqual(last.ns * (1 + 1e-9));
              last = { ns, factor: FACTORS[i]! };
            });
          }
        }
      }
    });
  }
});
