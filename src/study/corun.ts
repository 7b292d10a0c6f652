import { join } from 'node:path';
import { z } from 'zod';
import { SilicaError } from '../core/errors.js';
import { checkedHardware, hardwareOverridesSchema } from '../hw/config/overrides.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import { aloneWindow, togetherWindows, type CorunSide } from '../hw/corun.js';
import { makeCuLayout } from '../hw/gpu/cu-layout.js';
import { namingCuSet } from '../hw/gpu/dispatcher.js';
import { cuRange, type CuSet } from '../hw/gpu/cu-mask.js';
import { simulateKernel } from '../hw/system.js';
import { checkDtypeRate } from '../hw/gpu/kernel-timing.js';
import { streamArrayBytes, streamCost } from '../kernels/elementwise.js';
import { gemmCost } from '../kernels/gemm.js';
import type { KernelCost } from '../kernels/types.js';
import { chartSpec } from '../plot/charts.js';
import { writeSvg } from '../plot/render.js';
import { kernelPoint, pointLabel, type KernelPoint } from './kernels.js';
import { registerExperiment } from './registry.js';

/**
 * `kind: corun` — two lanes of one GPU on split CUs (CU masks; green contexts on NVIDIA), each
 * running one kernel back to back: lane A on the first `cus_a` CUs, lane B on the rest. For each
 * split, how much each lane slows while the other runs the whole time, against running alone on
 * its CUs, and the HBM bytes each lane's CUs get. It is what the serving study's CU partitions rest
 * on, open to a sweep: which split, which part, which kernels. The lanes share the HBM by their CUs
 * and, where the part models it, the power cap (src/hw/memory/hbm-share.ts, src/hw/gpu/power.ts).
 */
const count = z.number().int().positive();

export const corunSchema = z
  .object({
    kind: z.literal('corun'),
    description: z.string().optional(),
    /** Hardware preset name or path to a hardware YAML (relative to the experiment file). */
    hw: z.string().default('h200-sxm'),
    hw_overrides: hardwareOverridesSchema,
    /** Lane A's kernel, run back to back on the first `cus_a` CUs. */
    a: kernelPoint,
    /** Lane B's kernel, on the CUs A leaves. */
    b: kernelPoint,
    /** Lane A's CU counts, one split each; lane B takes the rest of the chip. */
    cus_a: z.array(count).min(1),
    /** About how long (µs) each lane runs alone: it sets each lane's launches, at least one. */
    window_us: z.number().positive().default(2000),
    /** Write corun.svg (each lane's slowdown against A's CUs) into the output directory. */
    figure: z.boolean().default(true),
  })
  .strict();

export type CorunConfig = z.infer<typeof corunSchema>;
type Row = Record<string, string | number | boolean>;

function laneKernel(hw: HardwareConfig, p: KernelPoint, set: CuSet, field: string): KernelCost {
  if (p.op === 'gemm') return gemmCost(hw, { m: p.m, n: p.n, k: p.k, batch: p.batch, dtype: p.dtype }, set);
  return streamCost(p.stream, streamArrayBytes(hw, p.stream, p.bytes, `${field}.bytes`));
}

/** A lane's kernel on its CUs and its time alone (ns). */
function laneAlone(hw: HardwareConfig, p: KernelPoint, set: CuSet, field: string): [KernelCost, number] {
  const k = laneKernel(hw, p, set, field);
  return [k, simulateKernel(hw, k, set).timeNs];
}

/** The part, with each split leaving lane B at least one CU and each lane's dtype checked. */
function checkCorun(config: CorunConfig, baseDir: string): HardwareConfig {
  const hw = checkedHardware(config.hw, config.hw_overrides, baseDir);
  for (const [i, cus] of config.cus_a.entries()) {
    if (cus >= hw.compute.cus) throw new SilicaError(`cus_a.${i}: expected fewer than ${hw.compute.cus} (the CUs of ${hw.name}; lane B takes the rest), got ${cus}`);
  }
  for (const key of ['a', 'b'] as const) {
    const p = config[key];
    if (p.op === 'gemm') checkDtypeRate(hw, p.dtype, `${key}.dtype`);
    else streamArrayBytes(hw, p.stream, p.bytes, `${key}.bytes`);
  }
  return hw;
}

/**
 * How much `lane` slows while `other` runs the whole time: `lane` runs about `windowNs` alone, and
 * `other` is given launches to outlast it, doubled until it does (a lane may slow several-fold).
 * The lane's window alone does not depend on the other's launches: simulated once.
 */
function slowdownBeside(hw: HardwareConfig, lane: CorunSide, aloneNs: number, other: CorunSide, otherAloneNs: number): { slowdown: number; mhz: number } {
  const laneAloneNs = aloneWindow(hw, lane).ns;
  let reps = Math.max(2, Math.ceil((2 * lane.reps * aloneNs) / otherAloneNs));
  for (;;) {
    const w = togetherWindows(hw, lane, { ...other, reps });
    // The clock over the lane's window only: the partner outlasts it, and its tail alone runs at
    // its own clock (the median over the whole run read 1980 MHz at 120|12 on an H200, 1605 over the lane's window).
    if (w.bNs >= w.aNs) return { slowdown: w.aNs / laneAloneNs, mhz: w.aMhz };
    reps *= 2;
  }
}

export function runCorun(config: CorunConfig, baseDir?: string, progress?: (f: number, label: string) => void): Row[] {
  const hw = checkCorun(config, baseDir ?? process.cwd());
  const layout = makeCuLayout(hw.compute);
  const windowNs = config.window_us * 1000;
  const [labelA, labelB] = [pointLabel(config.a), pointLabel(config.b)];
  const rows: Row[] = [];
  for (const [i, cusA] of config.cus_a.entries()) {
    const cusB = hw.compute.cus - cusA;
    const setA = cuRange(layout, 0, cusA);
    const setB = cuRange(layout, cusA, cusB);
    // One launch alone first: it sets how many launches fill the window. A split whose CUs a lane's
    // grid cannot run on (MI300X: an XCD left empty) is named by its cus_a entry and lane.
    const [kA, aloneNsA] = namingCuSet(`cus_a.${i}: lane A on CUs 0-${cusA - 1}`, () => laneAlone(hw, config.a, setA, 'a'));
    const [kB, aloneNsB] = namingCuSet(`cus_a.${i}: lane B on CUs ${cusA}-${hw.compute.cus - 1}`, () => laneAlone(hw, config.b, setB, 'b'));
    const sideA: CorunSide = { kernels: [kA], set: setA, reps: Math.max(1, Math.round(windowNs / aloneNsA)) };
    const sideB: CorunSide = { kernels: [kB], set: setB, reps: Math.max(1, Math.round(windowNs / aloneNsB)) };
    const a = slowdownBeside(hw, sideA, aloneNsA, sideB, aloneNsB);
    const b = slowdownBeside(hw, sideB, aloneNsB, sideA, aloneNsA);
    const bytesA = kA.hbmReadBytes + kA.hbmWriteBytes;
    const bytesB = kB.hbmReadBytes + kB.hbmWriteBytes;
    rows.push({
      hw: hw.name,
      a_kernel: labelA,
      b_kernel: labelB,
      cus_a: cusA,
      cus_b: cusB,
      a_alone_us: aloneNsA / 1000,
      b_alone_us: aloneNsB / 1000,
      a_slowdown: a.slowdown,
      b_slowdown: b.slowdown,
      a_gbps_alone: bytesA / aloneNsA,
      b_gbps_alone: bytesB / aloneNsB,
      a_gbps_per_cu_together: bytesA / (aloneNsA * a.slowdown) / cusA,
      b_gbps_per_cu_together: bytesB / (aloneNsB * b.slowdown) / cusB,
      // Where the part models its power cap: the median clock with both lanes busy (A's window).
      a_clock_mhz_together: Number.isFinite(a.mhz) ? a.mhz : '',
    });
    progress?.((i + 1) / config.cus_a.length, `${cusA}|${cusB}`);
  }
  return rows;
}

registerExperiment({
  name: 'corun',
  description: 'two lanes of one GPU on split CUs, each running one kernel back to back: how much each slows beside the other, per split',
  schema: corunSchema,
  check: (config, ctx) => void checkCorun(config, ctx.baseDir),
  async run(config, ctx) {
    const rows = runCorun(config, ctx.baseDir, ctx.progress);
    const files: string[] = [];
    if (ctx.outDir && config.figure) {
      const long = rows.flatMap((r) => [
        { cus_a: r.cus_a, lane: `A: ${r.a_kernel}`, slowdown: r.a_slowdown },
        { cus_a: r.cus_a, lane: `B: ${r.b_kernel}`, slowdown: r.b_slowdown },
      ]);
      await writeSvg(
        join(ctx.outDir, 'corun.svg'),
        chartSpec({ rows: long, x: 'cus_a', y: 'slowdown', color: 'lane', mark: rows.length > 1 ? 'line' : 'bar', title: `Co-run slowdown by split on ${rows[0]!.hw}` }),
      );
      files.push('corun.svg');
    }
    return { rows, summary: { hw: rows[0]!.hw, splits: rows.length }, files };
  },
});
