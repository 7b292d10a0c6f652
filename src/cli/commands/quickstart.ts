import type { CommandModule } from 'yargs';
import { loadHardware } from '../../hw/config/load.js';
import { kernelRunEnergy, simulateKernel } from '../../hw/system.js';
import { streamCost } from '../../kernels/elementwise.js';
import { gemmCost } from '../../kernels/gemm.js';
import type { KernelCost } from '../../kernels/types.js';
import { printJson } from '../common.js';

/**
 * A short report of representative kernels on a preset, so a new user sees the model's figures
 * next to the hardware's peaks in one second (`npm start` runs the fuller quickstart experiment).
 */
export const quickstartCommand: CommandModule = {
  command: 'quickstart',
  describe: 'print a short kernel report on a preset (npm start runs the quickstart experiment instead)',
  builder: (y) => y
      .option('hw', { type: 'string', default: 'mi300x', describe: 'hardware preset name or path to a YAML file' })
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' }),
  handler: (argv) => {
    const args = argv as unknown as { hw: string; json: boolean };
    const hw = loadHardware(args.hw);
    // One row per kernel; the board's power where the part models it (compute.power).
    const row = (label: string, kernel: KernelCost) => {
      const run = simulateKernel(hw, kernel);
      const energy = kernelRunEnergy(run);
      const power = energy ? { board_power_w: energy.board_power_w } : {};
      return { kernel: label, time_us: run.timeNs / 1000, tflops: kernel.flops / run.timeNs / 1000, gbps: (kernel.hbmReadBytes + kernel.hbmWriteBytes) / run.timeNs, ...power };
    };
    const rows = [
      ...[
        [8192, 8192, 8192],
        [4096, 4864, 32896],
        [1, 8192, 8192],
        [16384, 1024, 4096],
      ].map(([m, n, k]) => row(`gemm bf16 ${m}x${n}x${k}`, gemmCost(hw, { m: m!, n: n!, k: k!, dtype: 'bf16' }))),
      ...(['copy', 'triad'] as const).map((op) => row(`stream ${op} 1GiB`, streamCost(op, 2 ** 30))),
    ];
    if (args.json) {
      printJson({ hw: hw.name, kernels: rows });
      return;
    }
    process.stdout.write(`silica quickstart on ${hw.name}: ${hw.description}\n`);
    const watts = hw.compute.power !== undefined;
    process.stdout.write(`${'kernel'.padEnd(30)} ${'time_us'.padStart(12)} ${'TFLOP/s'.padStart(10)} ${'GB/s'.padStart(10)}${watts ? ' board W'.padStart(10) : ''}\n`);
    for (const r of rows) {
      const w = r.board_power_w === undefined ? '' : r.board_power_w.toFixed(0).padStart(10);
      process.stdout.write(`${r.kernel.padEnd(30)} ${r.time_us.toFixed(2).padStart(12)} ${r.tflops.toFixed(1).padStart(10)} ${r.gbps.toFixed(0).padStart(10)}${w}\n`);
    }
  },
};
