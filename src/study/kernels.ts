import { join } from 'node:path';
import { z } from 'zod';
import { SilicaError } from '../core/errors.js';
import { checkUniqueNames } from '../core/repeats.js';
import { checkedHardware, hardwareOverridesSchema } from '../hw/config/overrides.js';
import { dtypeSchema, type HardwareConfig } from '../hw/config/schema.js';
import { makeCuLayout } from '../hw/gpu/cu-layout.js';
import { namingCuSet } from '../hw/gpu/dispatcher.js';
import { checkDtypeRate } from '../hw/gpu/kernel-timing.js';
import { firstNCus } from '../hw/gpu/cu-mask.js';
import { kernelRunEnergy, simulateKernel } from '../hw/system.js';
import { streamArrayBytes, streamCost } from '../kernels/elementwise.js';
import { gemmCost } from '../kernels/gemm.js';
import type { KernelCost } from '../kernels/types.js';
import { chartSpec } from '../plot/charts.js';
import { writeSvg } from '../plot/render.js';
import { registerExperiment } from './registry.js';
import { maxOf } from '../core/extent.js';

/**
 * `kind: kernels` — a list of GEMM and STREAM points on one hardware preset, each simulated in
 * isolation on each requested CU count; one row per (point, CU count). The simplest experiment,
 * used by the quickstart and as the CPU-bound workload of sweep benchmarks (a long `cus` list makes
 * a point heavy: every CU count re-runs the GEMM tile search and the simulation).
 */
const count = z.number().int().positive();

const gemmPoint = z
  .object({
    op: z.literal('gemm'),
    /** Row label; defaults to gemm_MxNxK. */
    name: z.string().optional(),
    m: count,
    n: count,
    k: count,
    batch: count.default(1),
    dtype: dtypeSchema.default('bf16'),
  })
  .strict();

const streamPoint = z
  .object({
    op: z.literal('stream'),
    name: z.string().optional(),
    /** BabelStream kernel. */
    stream: z.enum(['copy', 'scale', 'add', 'triad']).default('copy'),
    /** Size of each array: bytes, or a size such as 1GiB. */
    bytes: z.union([z.number().int().positive(), z.string()]),
  })
  .strict();

/** A GEMM or a STREAM kernel, as the kernels and corun kinds take them. */
export const kernelPoint = z.discriminatedUnion('op', [gemmPoint, streamPoint]);
export type KernelPoint = z.infer<typeof kernelPoint>;

/** A GEMM or STREAM point's row label: its name, else its shape. */
export function pointLabel(p: KernelPoint): string {
  return p.name ?? (p.op === 'gemm' ? `gemm_${p.m}x${p.n}x${p.k}${p.batch > 1 ? `_b${p.batch}` : ''}` : `stream_${p.stream}_${p.bytes}`);
}

export const kernelsSchema = z
  .object({
    kind: z.literal('kernels'),
    description: z.string().optional(),
    /** Hardware preset name or path to a hardware YAML (relative to the experiment file). */
    hw: z.string().default('mi300x'),
    /** Partial hardware tree overlaid on the preset, e.g. {memory: {hbm: {efficiency: 0.8}}}. */
    hw_overrides: hardwareOverridesSchema,
    /** CU counts to run every point on (first N logical CUs); default: all CUs. */
    cus: z.array(count).min(1).optional(),
    /** Write kernels.svg into the output directory. */
    figure: z.boolean().default(true),
    points: z.array(kernelPoint).min(1),
  })
  .strict()
  // A point's name labels its rows and its figure series: two of one name would read as one point.
  .superRefine((config, ctx) => void checkUniqueNames(ctx, 'points', config.points.map((p) => p.name)));

export type KernelsConfig = z.infer<typeof kernelsSchema>;
type Row = Record<string, string | number | boolean>;

/** The CU counts to run on (default: all), each at most the part's. */
function checkCuCounts(config: Pick<KernelsConfig, 'cus'>, hw: HardwareConfig): number[] {
  const cuCounts = config.cus ?? [hw.compute.cus];
  for (const [i, c] of cuCounts.entries()) {
    if (c > hw.compute.cus) throw new SilicaError(`cus.${i}: expected at most ${hw.compute.cus} (the CUs of ${hw.name}), got ${c}`);
  }
  return cuCounts;
}

/** The hardware and CU counts of a kernels config, and each point's dtype against the part, checked. */
function checkKernels(config: KernelsConfig, baseDir: string): void {
  const hw = checkedHardware(config.hw, config.hw_overrides, baseDir);
  checkCuCounts(config, hw);
  for (const [i, p] of config.points.entries()) if ('dtype' in p && p.dtype) checkDtypeRate(hw, p.dtype, `points.${i}.dtype`);
}

export function runKernels(config: KernelsConfig, baseDir?: string, progress?: (f: number, label: string) => void): Row[] {
  // Remembered as the check remembers it: a sweep of one-GEMM points loads a preset part per point.
  const hw = checkedHardware(config.hw, config.hw_overrides, baseDir ?? process.cwd());
  const layout = makeCuLayout(hw.compute);
  const cuCounts = checkCuCounts(config, hw);
  const rows: Row[] = [];
  const total = config.points.length * cuCounts.length;
  for (const [pi, p] of config.points.entries()) {
    // What a point's rows share, worked out once per point rather than once per CU count: a CU
    // scaling study has hundreds of counts per point (the bench sweep: 307,200 rows).
    const stream = p.op === 'stream' ? { arrayBytes: streamArrayBytes(hw, p.stream, p.bytes, `points.${pi}.bytes`), kind: p.stream } : undefined;
    const label = pointLabel(p);
    const shape: ShapeCells =
      p.op === 'gemm'
        ? { op: 'gemm', dtype: p.dtype, m: p.m, n: p.n, k: p.k, batch: p.batch, array_bytes: '' }
        : { op: `stream_${p.stream}`, dtype: 'fp64', m: '', n: '', k: '', batch: '', array_bytes: stream!.arrayBytes };
    for (const [ci, cus] of cuCounts.entries()) {
      const set = firstNCus(layout, cus);
      const { kernel, run } = namingCuSet(`${config.cus ? `cus.${ci}` : 'cus'} (${cus} CUs), points.${pi}`, () => {
        const kernel: KernelCost = p.op === 'gemm' ? gemmCost(hw, { m: p.m, n: p.n, k: p.k, batch: p.batch, dtype: p.dtype }, set) : streamCost(stream!.kind, stream!.arrayBytes);
        return { kernel, run: simulateKernel(hw, kernel, set) };
      });
      const energy = kernelRunEnergy(run);
      const hbmBytes = kernel.hbmReadBytes + kernel.hbmWriteBytes;
      // One literal, its keys always in this order: the tables' column order.
      rows.push({
        hw: hw.name,
        kernel: label,
        op: shape.op,
        dtype: shape.dtype,
        m: shape.m,
        n: shape.n,
        k: shape.k,
        batch: shape.batch,
        array_bytes: shape.array_bytes,
        cus,
        time_us: run.timeNs / 1000,
        tflops: kernel.flops / run.timeNs / 1000,
        achieved_gbps: hbmBytes / run.timeNs,
        flops: kernel.flops,
        hbm_bytes: hbmBytes,
        workgroups: kernel.workgroups,
        tile: kernel.tile ? `${kernel.tile[0]}x${kernel.tile[1]}` : '',
        // Empty on parts without a power model (compute.power).
        board_power_w: energy?.board_power_w ?? NaN,
        energy_uj: energy?.energy_uj ?? NaN,
      });
      progress?.(rows.length / total, label);
    }
  }
  return rows;
}

/** The cells a point's rows share: its operation and shape ('' where the operation has none). */
interface ShapeCells {
  op: string;
  dtype: string;
  m: number | '';
  n: number | '';
  k: number | '';
  batch: number | '';
  array_bytes: number | '';
}

registerExperiment({
  name: 'kernels',
  description: 'GEMM and STREAM points on one hardware preset, each simulated in isolation; one row per point and CU count',
  schema: kernelsSchema,
  check: (config, ctx) => checkKernels(config, ctx.baseDir),
  async run(config, ctx) {
    const rows = runKernels(config, ctx.baseDir, ctx.progress);
    const files: string[] = [];
    if (ctx.outDir && config.figure) {
      const byCus = (config.cus?.length ?? 1) > 1;
      await writeSvg(
        join(ctx.outDir, 'kernels.svg'),
        chartSpec(
          byCus
            ? { rows, x: 'cus', y: 'time_us', color: 'kernel', mark: 'line', logY: true, title: `Kernel time vs CUs on ${rows[0]!.hw}` }
            : { rows, x: 'kernel', y: 'time_us', color: 'op', mark: 'bar', logY: true, title: `Kernel time on ${rows[0]!.hw}` },
        ),
      );
      files.push('kernels.svg');
    }
    const tflops = rows.map((r) => r.tflops as number);
    const gbps = rows.map((r) => r.achieved_gbps as number);
    return {
      rows,
      summary: { hw: rows[0]!.hw, kernels: rows.length, max_tflops: maxOf(tflops), max_achieved_gbps: maxOf(gbps) },
      files,
    };
  },
});
