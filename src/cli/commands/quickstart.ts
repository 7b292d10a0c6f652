import type { CommandModule } from 'yargs';
import { loadHardware } from '../../hw/config/load.js';
import { simulateKernel } from '../../hw/system.js';
import { streamCost } from '../../kernels/elementwise.js';
import { gemmCost } from '../../kernels/gemm.js';
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
    const rows = [
      ...[
        [8192, 8192, 8192],
        [4096, 4864, 32896],
        [1, 8192, 8192],
        [16384, 1024, 4096],
      ].map(([m, n, k]) => {
        const kernel = gemmCost(hw, { m: m!, n: n!, k: k!, dtype: 'bf16' });
        const run = simulateKernel(hw, kernel);
        return { kernel: `gemm bf16 ${m}x${n}x${k}`, time_us: run.timeNs / 1000, tflops: kernel.flops / run.timeNs / 1000, gbps: (kernel.hbmReadBytes + kernel.hbmWriteBytes) / run.timeNs };
      }),
      ...(['copy', 'triad'] as const).map((op) => {
        const kernel = streamCost(op, 2 ** 30);
        const run = simulateKernel(hw, kernel);
        return { kernel: `stream ${op} 1GiB`, time_us: run.timeNs / 1000, tflops: kernel.flops / run.timeNs / 1000, gbps: (kernel.hbmReadBytes + kernel.hbmWriteBytes) / run.timeNs };
      }),
    ];
    if (args.json) {
      printJson({ hw: hw.name, kernels: rows });
      return;
    }
    process.stdout.write(`silica quickstart on ${hw.name}: ${hw.description}\n`);
    process.stdout.write(`${'kernel'.padEnd(30)} ${'time_us'.padStart(12)} ${'TFLOP/s'.padStart(10)} ${'GB/s'.padStart(10)}\n`);
    for (const r of rows) {
      process.stdout.write(`${r.kernel.padEnd(30)} ${r.time_us.toFixed(2).padStart(12)} ${r.tflops.toFixed(1).padStart(10)} ${r.gbps.toFixed(0).padStart(10)}\n`);
    }
  },
};
