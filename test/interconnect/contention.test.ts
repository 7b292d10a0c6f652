import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { startCollective, type CollectiveOutcome } from '../../src/hw/collectives/index.js';
import { hbmBytesPerNs } from '../../src/hw/gpu/kernel-timing.js';
import { System } from '../../src/hw/system.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import type { KernelCost } from '../../src/kernels/types.js';
import type { HardwareConfig } from '../../src/hw/config/schema.js';

const GiB = 1024 ** 3;

/**
 * One kernel on GPU 0 of an 8-GPU t3-baseline ring, alone or beside an all-reduce that lasts
 * longer than it. Kernels are weighted by their isolated rate, as transfers are (dma.ts).
 */
function kernelTime(hw: HardwareConfig, kernel: KernelCost, collective?: { engine: 'cu' | 'dma'; cus?: number }) {
  const system = new System(hw, 8);
  const gpu = system.gpus[0]!;
  let kernelEnd = 0;
  let outcome: CollectiveOutcome | undefined;
  const hbmBefore = () => gpu.hbm.usedIntegral;
  if (collective) {
    startCollective(system, { kind: 'all-reduce', bytes: 2 * GiB, ranks: [0, 1, 2, 3, 4, 5, 6, 7], algo: 'ring', ...collective }, (o) => (outcome = o));
  }
  let hbmAtKernelEnd = 0;
  // Start the kernel once the collective is streaming.
  system.sim.after(20_000, () =>
    gpu.launch(kernel, {
      weight: 1 / gpu.timing(kernel).isolatedNs,
      onComplete: (r) => {
        kernelEnd = r.endNs - r.startNs;
        hbmAtKernelEnd = hbmBefore();
      },
    }),
  );
  system.sim.run();
  if (collective) expect(outcome!.endNs).toBeGreaterThan(20_000 + kernelEnd);
  return { timeNs: kernelEnd, hbmAtKernelEnd };
}

describe('CU-engine and DMA-engine collectives beside a GEMM', () => {
  const hw = loadHardware('t3-baseline');
  // Compute-bound: large K, output small next to the work.
  const gemm = gemmCost(hw, { m: 4096, n: 4096, k: 4096, dtype: 'bf16' });
  const alone = kernelTime(hw, gemm).timeNs;

  for (const cus of [8, 16]) {
    it(`an all-reduce on ${cus} CUs slows a compute-bound GEMM by the CUs it holds`, () => {
      const slowed = kernelTime(hw, gemm, { engine: 'cu', cus }).timeNs;
      const expected = hw.compute.cus / (hw.compute.cus - cus);
      expect(slowed / alone).toBeGreaterThan(expected * 0.97);
      expect(slowed / alone).toBeLessThan(expected * 1.08);
    });
  }

  it('a DMA-engine all-reduce takes no CUs: the compute-bound GEMM barely moves', () => {
    const slowed = kernelTime(hw, gemm, { engine: 'dma' }).timeNs;
    expect(slowed / alone).toBeLessThan(1.03);
  });
});

describe('collectives draw HBM', () => {
  const hw = loadHardware('t3-baseline');
  const copy = streamCost('copy', 256 * 1024 ** 2);
  const fixedNs = hw.compute.kernel_launch_ns + hw.memory.hbm.latency_ns;

  for (const engine of ['dma', 'cu'] as const) {
    it(`a ${engine}-engine all-reduce slows a memory-bound kernel by the HBM it draws`, () => {
      // The all-reduce's own DRAM draw on GPU 0 when it runs alone.
      const system = new System(hw, 8);
      let end = 0;
      startCollective(system, { kind: 'all-reduce', bytes: 2 * GiB, ranks: [0, 1, 2, 3, 4, 5, 6, 7], algo: 'ring', engine, cus: 16 }, (o) => (end = o.endNs));
      system.sim.run();
      const drawGbps = system.gpus[0]!.hbm.usedIntegral / end;
      expect(drawGbps).toBeGreaterThan(0);

      const alone = kernelTime(hw, copy).timeNs - fixedNs;
      const beside = kernelTime(hw, copy, { engine, cus: 16 }).timeNs - fixedNs;
      // Demand-proportional sharing of a saturated HBM: both slow by the same factor, so the
      // copy (which alone fills the HBM) runs 1 + draw / capacity times longer.
      const predicted = 1 + drawGbps / hbmBytesPerNs(hw);
      expect(beside / alone).toBeGreaterThan(1.05);
      expect(Math.abs(beside / alone / predicted - 1)).toBeLessThan(0.1);
    });
  }
});

describe('a CU-engine collective needs CUs of its own', () => {
  // A grid of one wave keeps the CUs its workgroups run on (src/hw/gpu/cu-pool.ts). A collective
  // kernel issued beside it on the same GPU finds fewer CUs free than it holds: it starts when they
  // are free, and until then moves nothing (it used to run at full rate on CUs it did not have).
  const hw = loadHardware('h200-sxm');
  const cus = hw.interconnect.collective.cus;
  /** Compute only (no DRAM traffic): nothing but CUs is shared with the collective. */
  const grid = (workgroups: number): KernelCost => ({
    name: 'one-wave',
    category: 'elementwise',
    workgroups,
    perWorkgroup: { matrixFlops: 0, vectorFlops: 2e8, cuBytes: 0 },
    dtype: 'fp32',
    flops: workgroups * 2e8,
    hbmReadBytes: 0,
    hbmWriteBytes: 0,
  });

  function run(gridWorkgroups?: number): { gridEndNs: number; collectiveStartNs: number; collectiveEndNs: number } {
    const system = new System(hw, 2);
    let gridEndNs = NaN;
    let collectiveStartNs = NaN;
    let collectiveEndNs = NaN;
    if (gridWorkgroups) system.gpus[0]!.launch(grid(gridWorkgroups), { onComplete: (r) => (gridEndNs = r.endNs) });
    startCollective(system, { kind: 'all-reduce', bytes: 64 * 1024 ** 2, ranks: [0, 1], engine: 'cu' }, (o) => {
      collectiveStartNs = o.startNs;
      collectiveEndNs = o.endNs;
    });
    system.sim.run();
    return { gridEndNs, collectiveStartNs, collectiveEndNs };
  }

  const alone = run().collectiveEndNs;
  const launchNs = hw.compute.kernel_launch_ns;

  it('beside a grid that leaves fewer CUs than it holds, it starts when the grid ends and then takes its own time (closed form)', () => {
    const { gridEndNs, collectiveStartNs, collectiveEndNs } = run(hw.compute.cus - cus / 2);
    expect(gridEndNs).toBeGreaterThan(launchNs);
    expect(collectiveEndNs).toBeCloseTo(gridEndNs + (alone - launchNs), 3);
    // Reported from when it could start (its launch latency before), as a kernel that waited is.
    expect(collectiveStartNs).toBeCloseTo(gridEndNs - launchNs, 6);
  });

  it('beside a grid that leaves it enough CUs, it runs as if alone', () => {
    const { collectiveStartNs, collectiveEndNs } = run(hw.compute.cus - cus);
    expect(collectiveEndNs).toBeCloseTo(alone, 6);
    expect(collectiveStartNs).toBe(0);
  });
});
