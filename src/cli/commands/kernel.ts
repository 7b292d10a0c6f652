import type { Argv, CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { parsePositiveInt } from '../../core/units.js';
import { namingCuSet } from '../../hw/gpu/dispatcher.js';
import { DTYPES, type Dtype, type HardwareConfig } from '../../hw/config/schema.js';
import { makeCuLayout } from '../../hw/gpu/cu-layout.js';
import { checkDtypeRate } from '../../hw/gpu/kernel-timing.js';
import { firstNCus, fullCuSet, parseCuMask, type CuSet } from '../../hw/gpu/cu-mask.js';
import { kernelRunEnergy, simulateKernel } from '../../hw/system.js';
import { streamArrayBytes, streamCost, type StreamOp } from '../../kernels/elementwise.js';
import { gemmCost } from '../../kernels/gemm.js';
import { hardwareFrom, numberFlag, printJson, printTable, withHwOptions, type HwArgs, type NumberArg } from '../common.js';

function cuSetFrom(hw: HardwareConfig, args: { cus?: unknown; cuMask?: string }): CuSet {
  const layout = makeCuLayout(hw.compute);
  if (args.cus !== undefined && args.cuMask !== undefined) throw new SilicaError('--cus and --cu-mask: give one or the other, not both');
  if (args.cus !== undefined) return firstNCus(layout, parsePositiveInt(args.cus, '--cus'));
  if (args.cuMask !== undefined) return parseCuMask(layout, String(args.cuMask));
  return fullCuSet(layout);
}

/**
 * A note on stderr when a chosen CU set gives the XCDs unequal CUs on a part that deals workgroups
 * to them in turn: each XCD gets an equal share of a large grid, so the least-filled XCD sets the
 * pace and the extra CUs elsewhere idle (--cus 38 on MI300X: 5 CUs on six XCDs and 4 on two runs a
 * large GEMM as 32 CUs do). The `cus` column reports the CUs enabled, not those that set the time.
 */
function noteUnevenGroups(hw: HardwareConfig, set: CuSet, args: { cus?: unknown; cuMask?: string }): void {
  if (hw.compute.dispatch !== 'round-robin-groups' || set.perGroup.length < 2 || (args.cus === undefined && args.cuMask === undefined)) return;
  const per = Array.from(set.perGroup);
  const least = Math.min(...per);
  // An empty XCD is the dispatcher's to report (an error, or a small grid that stays off it).
  if (least === 0 || least === Math.max(...per)) return;
  const flag = args.cus !== undefined ? `--cus ${String(args.cus)}` : `--cu-mask ${String(args.cuMask)}`;
  process.stderr.write(
    `silica kernel: note: ${flag} enables ${per.join('/')} CUs on XCDs 0-${per.length - 1}; workgroups are dealt to XCDs in turn, so a grid that fills them runs as on ${least * per.length} CUs (${least} per XCD)\n`,
  );
}

/**
 * Runs `run`, naming the CU flag in a CU-mask error: whether a set can run a kernel depends on the
 * kernel (a grid dealt round-robin to XCDs needs CUs on each XCD it reaches), so the check comes
 * from deep in the dispatcher, which knows no flags.
 */
function namingCuFlag<T>(args: { cus?: unknown; cuMask?: string }, run: () => T): T {
  const flag = args.cus !== undefined ? `--cus ${String(args.cus)}` : args.cuMask !== undefined ? `--cu-mask ${args.cuMask}` : undefined;
  return namingCuSet(flag, run);
}

function withCuOptions<T>(y: Argv<T>) {
  return y
    .option('cus', numberFlag('run on the first N logical CUs (mask bits 0..N-1)'))
    .option('cu-mask', { type: 'string', describe: 'hex CU mask, bit i = logical CU i (MI300X: bit i -> XCD i mod 8)' });
}

const gemm: CommandModule = {
  command: 'gemm',
  describe: 'simulate one GEMM (C[M,N] = A[M,K] B[K,N])',
  builder: (y) =>
    withCuOptions(withHwOptions(y))
      .option('m', numberFlag('rows of A and C (tokens, in a transformer layer)', { demandOption: true }))
      .option('n', numberFlag('columns of B and C (output features)', { demandOption: true }))
      .option('k', numberFlag('the inner dimension, summed over (input features)', { demandOption: true }))
      .option('batch', numberFlag('batched GEMM count', { default: 1 }))
      .option('dtype', { type: 'string', default: 'bf16', describe: DTYPES.join('|') }),
  handler: (argv) => {
    const args = argv as unknown as HwArgs & { m: string; n: string; k: string; batch: NumberArg; dtype: string; cus?: string; cuMask?: string };
    if (!(DTYPES as readonly string[]).includes(args.dtype)) throw new SilicaError(`--dtype: expected one of ${DTYPES.join(', ')}, got "${args.dtype}"`);
    const hw = hardwareFrom(args);
    checkDtypeRate(hw, args.dtype as Dtype, '--dtype');
    const set = cuSetFrom(hw, args);
    noteUnevenGroups(hw, set, args);
    const shape = {
      m: parsePositiveInt(args.m, '-m'),
      n: parsePositiveInt(args.n, '-n'),
      k: parsePositiveInt(args.k, '-k'),
      batch: parsePositiveInt(args.batch, '--batch'),
      dtype: args.dtype as Dtype,
    };
    const { kernel, run } = namingCuFlag(args, () => {
      const kernel = gemmCost(hw, shape, set);
      return { kernel, run: simulateKernel(hw, kernel, set) };
    });
    const timeUs = run.timeNs / 1000;
    const result = {
      hw: hw.name,
      ...shape,
      cus: set.count,
      time_us: timeUs,
      tflops: kernel.flops / run.timeNs / 1000,
      flops: kernel.flops,
      hbm_read_bytes: kernel.hbmReadBytes,
      hbm_write_bytes: kernel.hbmWriteBytes,
      workgroups: kernel.workgroups,
      tile_m: kernel.tile![0],
      tile_n: kernel.tile![1],
      ...kernelRunEnergy(run),
    };
    if (args.json) printJson(result);
    else printTable(Object.entries(result));
  },
};

const stream: CommandModule = {
  command: 'stream',
  describe: 'simulate a STREAM-like kernel (BabelStream copy/scale/add/triad)',
  builder: (y) =>
    withCuOptions(withHwOptions(y))
      .option('op', { choices: ['copy', 'scale', 'add', 'triad'] as const, default: 'copy' as const, describe: 'STREAM kernel: copy a = b, scale a = q b, add a = b + c, triad a = b + q c' })
      .option('bytes', { type: 'string', default: '4GiB', describe: 'size of each array (e.g. 4GiB)' }),
  handler: (argv) => {
    const args = argv as unknown as HwArgs & { op: StreamOp; bytes: string; cus?: string; cuMask?: string };
    const hw = hardwareFrom(args);
    const set = cuSetFrom(hw, args);
    noteUnevenGroups(hw, set, args);
    const arrayBytes = streamArrayBytes(hw, args.op, args.bytes, '--bytes');
    const kernel = streamCost(args.op, arrayBytes);
    const run = namingCuFlag(args, () => simulateKernel(hw, kernel, set));
    const moved = kernel.hbmReadBytes + kernel.hbmWriteBytes;
    const result = {
      hw: hw.name,
      op: args.op,
      array_bytes: arrayBytes,
      cus: set.count,
      time_us: run.timeNs / 1000,
      bytes_moved: moved,
      achieved_gbps: moved / run.timeNs,
      peak_gbps: hw.memory.hbm.peak_gbps,
      ...kernelRunEnergy(run),
    };
    if (args.json) printJson(result);
    else printTable(Object.entries(result));
  },
};

export const kernelCommand: CommandModule = {
  command: 'kernel',
  describe: 'simulate a single kernel (gemm | stream)',
  builder: (y) => y.command(gemm).command(stream).demandCommand(1, 'kernel: expected a kernel kind (gemm or stream)'),
  handler: () => {},
};
