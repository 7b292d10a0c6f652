/**
 * Core benchmark: events per second of the discrete-event core (timed events and fluid-flow
 * re-solves) and kernels simulated per second through the GPU model.
 */
import { performance } from 'node:perf_hooks';
import { makeResource } from '../src/core/flow-network.js';
import { Simulator } from '../src/core/simulator.js';
import { loadHardware } from '../src/hw/config/load.js';
import { System } from '../src/hw/system.js';
import { gemmCost } from '../src/kernels/gemm.js';
import { streamCost } from '../src/kernels/elementwise.js';

export interface BenchLine {
  name: string;
  value: number;
  unit: string;
}

export function run(): BenchLine[] {
  const lines: BenchLine[] = [];

  // Pure timed events: a chain of 1e6 self-rescheduling events.
  {
    const sim = new Simulator();
    let left = 1_000_000;
    const tick = () => {
      if (--left > 0) sim.after(1, tick);
    };
    sim.after(0, tick);
    const t0 = performance.now();
    sim.run();
    const s = (performance.now() - t0) / 1000;
    lines.push({ name: 'core: timed events per second', value: sim.eventsProcessed / s, unit: 'events/s' });
  }

  // Flows: 8 concurrent flows on 4 shared resources, each completion starting a new flow.
  {
    const sim = new Simulator();
    const resources = Array.from({ length: 4 }, (_, i) => makeResource(`r${i}`, 10));
    let started = 0;
    const total = 100_000;
    const start = () => {
      const i = started++;
      sim.startFlow({
        name: `f${i}`,
        amount: 100 + (i % 7) * 13,
        demands: [
          { resource: resources[i % 4]!, perUnit: 1 },
          { resource: resources[(i + 1) % 4]!, perUnit: 0.5 },
        ],
        maxRate: 4 + (i % 3),
        onComplete: () => {
          if (started < total) start();
        },
      });
    };
    for (let i = 0; i < 8; i++) start();
    const t0 = performance.now();
    sim.run();
    const s = (performance.now() - t0) / 1000;
    lines.push({ name: 'core: flow completions per second (8 co-running flows, rate re-solve each)', value: total / s, unit: 'flows/s' });
  }

  // Kernels through the GPU model: cost + launch + simulate, alternating GEMMs and streaming kernels.
  {
    const hw = loadHardware('mi300x');
    const system = new System(hw, 1);
    const gpu = system.gpus[0]!;
    gpu.recordKernels = false;
    const kernels = [gemmCost(hw, { m: 4096, n: 4096, k: 4096, dtype: 'bf16' }), streamCost('triad', 2 ** 26), gemmCost(hw, { m: 1, n: 8192, k: 8192, dtype: 'bf16' })];
    const n = 50_000;
    let issued = 0;
    const next = () => {
      if (issued >= n) return;
      gpu.launch(kernels[issued++ % kernels.length]!, { onComplete: next });
    };
    const t0 = performance.now();
    next();
    system.sim.run();
    const s = (performance.now() - t0) / 1000;
    lines.push({ name: 'gpu: kernels simulated per second (precosted)', value: n / s, unit: 'kernels/s' });

    const shapes = 2000;
    const t1 = performance.now();
    for (let i = 0; i < shapes; i++) gemmCost(hw, { m: 128 + i, n: 4096, k: 4096, dtype: 'bf16' });
    const s1 = (performance.now() - t1) / 1000;
    lines.push({ name: 'gpu: GEMM cost model evaluations per second (tile + split-K search)', value: shapes / s1, unit: 'gemms/s' });
    // The same shapes again: their tile choices are remembered (gemm.ts), only the cost is filled in.
    const t2 = performance.now();
    for (let i = 0; i < shapes; i++) gemmCost(hw, { m: 128 + i, n: 4096, k: 4096, dtype: 'bf16' });
    const s2 = (performance.now() - t2) / 1000;
    lines.push({ name: 'gpu: GEMM cost evaluations per second, shapes already searched (tile choice remembered)', value: shapes / s2, unit: 'gemms/s' });
  }
  return lines;
}
