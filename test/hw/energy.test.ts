import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, silicaJson } from '../helpers/cli.js';
import { loadHardware } from '../../src/hw/config/load.js';
import type { HardwareConfig } from '../../src/hw/config/schema.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, firstNCus, type CuSet } from '../../src/hw/gpu/cu-mask.js';
import { Stream } from '../../src/hw/gpu/gpu.js';
import { timeKernel } from '../../src/hw/gpu/kernel-timing.js';
import { aloneClockAndPower, aloneDynamicEnergyNj } from '../../src/hw/gpu/power.js';
import { System, simulateKernel } from '../../src/hw/system.js';
import { streamCost } from '../../src/kernels/elementwise.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import type { KernelCost } from '../../src/kernels/types.js';
import { replayReport } from '../../src/cli/commands/replay.js';
import { replayTrace } from '../../src/trace/replay.js';
import type { Trace } from '../../src/trace/types.js';
import { HardwareCoster } from '../../src/study/bert/coster.js';
import { simulateIteration } from '../../src/study/bert/iteration.js';
import { bertPointSchema } from '../../src/study/bert/point.js';
import { energyFigures } from '../../src/study/bert/tables.js';

const gemm = (hw: HardwareConfig, set: CuSet, n = 4096) => gemmCost(hw, { m: n, n, k: n, batch: 1, dtype: 'bf16' }, set);

/** Two kernels queued at time 0 on disjoint CU sets of one GPU: the run's end and the board's energy. */
function corun(hw: HardwareConfig, a: { kernel: KernelCost; set: CuSet }, b: { kernel: KernelCost; set: CuSet }) {
  const system = new System(hw, 1);
  const gpu = system.gpus[0]!;
  for (const [i, side] of [a, b].entries()) new Stream(gpu, `s${i}`, side.set).enqueue(side.kernel, {});
  const endNs = system.sim.run();
  return { endNs, energyJ: gpu.governor!.boardEnergyJ(endNs) };
}

describe('board energy (compute.power: the H100 and H200)', () => {
  it("a kernel alone draws static power over its time and its power over static while its workgroups run (closed form)", () => {
    for (const name of ['h200-sxm', 'h100-sxm']) {
      const hw = loadHardware(name);
      const layout = makeCuLayout(hw.compute);
      for (const cus of [8, 32, 96, hw.compute.cus]) {
        const set = firstNCus(layout, cus);
        for (const kernel of [gemm(hw, set), gemm(hw, set, 8192), streamCost('copy', 1 << 30)]) {
          const run = simulateKernel(hw, kernel, set);
          const t = timeKernel(hw, layout, set, kernel);
          const alone = aloneClockAndPower(hw, kernel, t)!;
          const expected = hw.compute.power!.static_w * run.timeNs + (alone.watts - hw.compute.power!.static_w) * (t.isolatedNs - t.fixedNs);
          expect(run.boardEnergyJ! * 1e9).toBeCloseTo(expected, 3);
          expect(aloneDynamicEnergyNj(hw, kernel, t)).toBeCloseTo(expected - hw.compute.power!.static_w * run.timeNs, 3);
        }
      }
    }
  });

  it('lies between static power and the cap over the run, at any cap', () => {
    for (const cap of [300, 500, 700, 1000]) {
      const hw = loadHardware('h200-sxm', [`compute.power.cap_w=${cap}`]);
      const layout = makeCuLayout(hw.compute);
      for (const cus of [16, 64, 132]) {
        const set = firstNCus(layout, cus);
        for (const kernel of [gemm(hw, set, 8192), streamCost('triad', 1 << 30)]) {
          const run = simulateKernel(hw, kernel, set);
          const watts = (run.boardEnergyJ! * 1e9) / run.timeNs;
          expect(watts).toBeGreaterThanOrEqual(hw.compute.power!.static_w);
          expect(watts).toBeLessThanOrEqual(cap * (1 + 1e-9));
        }
      }
    }
  });

  it('is not modelled on parts without a power model', () => {
    const hw = loadHardware('mi300x');
    expect(simulateKernel(hw, streamCost('copy', 1 << 28)).boardEnergyJ).toBeUndefined();
  });

  it('two kernels together: the board between static power and the cap, and each as alone where nothing is shared', () => {
    const hw = loadHardware('h200-sxm');
    const layout = makeCuLayout(hw.compute);
    for (const split of [20, 66, 100]) {
      const a = cuRange(layout, 0, split);
      const b = cuRange(layout, split, hw.compute.cus - split);
      for (const [ka, kb] of [[gemm(hw, a, 8192), gemm(hw, b, 8192)], [gemm(hw, a, 8192), streamCost('copy', 1 << 30)], [streamCost('copy', 1 << 30), streamCost('copy', 1 << 30)]] as Array<[KernelCost, KernelCost]>) {
        const { endNs, energyJ } = corun(hw, { kernel: ka, set: a }, { kernel: kb, set: b });
        expect(energyJ).toBeGreaterThan((hw.compute.power!.static_w * endNs) / 1e9);
        expect(energyJ).toBeLessThanOrEqual((hw.compute.power!.cap_w * endNs * (1 + 1e-9)) / 1e9);
      }
    }
    // Two compute-bound GEMMs on 32 SMs each, the cap out of reach: each runs and draws as alone.
    const free = loadHardware('h200-sxm', ['compute.power.cap_w=1e12']);
    const sides = [cuRange(layout, 0, 32), cuRange(layout, 32, 32)].map((set) => ({ set, kernel: gemm(free, set) }));
    const { endNs, energyJ } = corun(free, sides[0]!, sides[1]!);
    const aloneNj = sides.reduce((s, x) => s + aloneDynamicEnergyNj(free, x.kernel, timeKernel(free, layout, x.set, x.kernel)), 0);
    expect(energyJ * 1e9).toBeCloseTo(free.compute.power!.static_w * endNs + aloneNj, -3);
  });

  it("a BERT iteration's energy is static power over it plus its kernels' energy over static, and its figures agree", () => {
    const coster = new HardwareCoster('h100-sxm');
    const point = bertPointSchema.parse({ model: 'bert-base', seq: 128, batch: 8, precision: 'mixed-fp16', dp: 2 });
    const r = simulateIteration(point, coster);
    let dynamicNj = 0;
    for (const n of r.trace.programs[0]!) if (n.kind === 'kernel' && n.kernel) dynamicNj += coster.kernel(n.kernel).dynamicEnergyNj;
    expect(dynamicNj).toBeGreaterThan(0);
    expect(r.boardEnergyJ! * 1e9).toBeCloseTo(coster.hw.compute.power!.static_w * r.iterationNs + dynamicNj, 0);
    const e = energyFigures(r)!;
    expect(e.board_energy_j).toBeCloseTo(2 * r.boardEnergyJ!, 9);
    expect(e.energy_per_sample_j * r.samplesPerIteration).toBeCloseTo(e.board_energy_j, 9);
    expect(e.avg_board_power_w).toBeGreaterThan(coster.hw.compute.power!.static_w);
    expect(e.avg_board_power_w).toBeLessThanOrEqual(coster.hw.compute.power!.cap_w);
    expect(energyFigures(simulateIteration(point, new HardwareCoster('mi300x')))).toBeUndefined();
  });
});

describe('board energy on the command line', () => {
  it('kernel gemm and stream print board_power_w and energy_uj on a part with a power model, and neither without one', () => {
    const g = silicaJson(['kernel', 'gemm', '--hw', 'h200-sxm', '--m', '4096', '--n', '4096', '--k', '4096', '--cus', '32']);
    expect(g.energy_uj as number).toBeCloseTo((g.board_power_w as number) * (g.time_us as number), 0);
    expect(g.board_power_w as number).toBeGreaterThan(102);
    expect(g.board_power_w as number).toBeLessThan(700);
    const s = silicaJson(['kernel', 'stream', '--hw', 'h100-sxm', '--op', 'copy', '--bytes', '1GiB']);
    expect(s.board_power_w as number).toBeLessThanOrEqual(700);
    expect(silicaJson(['kernel', 'stream', '--hw', 'mi300x'])).not.toHaveProperty('energy_uj');
  });

  it('quickstart shows each kernel\'s board power on a part with a power model', () => {
    const h100 = silicaJson<{ kernels: Array<{ board_power_w?: number }> }>(['quickstart', '--hw', 'h100-sxm', '--json']);
    for (const k of h100.kernels) expect(k.board_power_w).toBeGreaterThan(102);
    expect(silicaJson<{ kernels: Array<Record<string, unknown>> }>(['quickstart', '--json']).kernels[0]).not.toHaveProperty('board_power_w');
  });

  it('replay reports the board energy with the kernel model, and not where nodes ran at recorded times', () => {
    const trace = join(ROOT, 'traces', 'llama2-7b-decode-b4-c1024.silica.gz');
    const r = silicaJson<{ total_us: number; energy: { board_j: number; avg_board_power_w: number } }>(['replay', trace, '--hw', 'h200-sxm', '--json']);
    expect(r.energy.board_j / ((r.energy.avg_board_power_w * r.total_us) / 1e6)).toBeCloseTo(1, 4);
    expect(r.energy.avg_board_power_w).toBeGreaterThan(102);
    expect(r.energy.avg_board_power_w).toBeLessThanOrEqual(700);
    expect(silicaJson(['replay', trace, '--hw', 'mi300x', '--json'])).not.toHaveProperty('energy');
    // A node at its recorded time has no power of its own: no total that would leave it out.
    const recorded: Trace = { meta: {}, worldSize: 1, programs: [[{ id: 0, name: 'k', kind: 'kernel', device: 'gpu', stream: 'compute', category: 'gemm', pass: 'fwd', deps: [], kernel: { op: 'gemm', name: 'k', m: 1024, n: 1024, k: 1024, dtype: 'bf16' }, durationNs: 5000 }]] };
    const h200 = loadHardware('h200-sxm');
    const timed = replayTrace(recorded, h200, { chakraTiming: 'duration' });
    expect(timed.boardEnergyJ).toHaveLength(1);
    expect(replayReport('t', 'silica', 'h200-sxm', timed)).not.toHaveProperty('energy');
    expect(replayReport('t', 'silica', 'h200-sxm', replayTrace(recorded, h200, { chakraTiming: 'model' }))).toHaveProperty('energy');
  });
});
