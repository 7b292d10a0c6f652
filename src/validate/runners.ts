import { SilicaError } from '../core/errors.js';
import { Registry } from '../core/registry.js';
import type { Dtype, HardwareConfig } from '../hw/config/schema.js';
import { makeCuLayout } from '../hw/gpu/cu-layout.js';
import { firstNCus, fullCuSet, type CuSet } from '../hw/gpu/cu-mask.js';
import { timeKernel } from '../hw/gpu/kernel-timing.js';
import { aloneClockAndPower } from '../hw/gpu/power.js';
import { simulateKernel } from '../hw/system.js';
import { costKernel, type KernelDesc } from '../kernels/desc.js';
import { STREAM_OP_NAMES, streamArrayBytes, streamCost, type StreamOp } from '../kernels/elementwise.js';
import { gemmCost } from '../kernels/gemm.js';
import type { KernelCost } from '../kernels/types.js';

/**
 * Validation runners: each reproduces one kind of figure through the code paths the CLI uses and
 * returns the metric values it knows. A runner is one entry in this registry.
 */
export interface RunnerContext {
  /** The hardware reference (preset name or path) the point resolves to, and the overlays. */
  hwRef?: string;
  overlays: string[];
}

export type Runner = (
  hw: HardwareConfig | undefined,
  params: Record<string, unknown>,
  ctx: RunnerContext,
) => Promise<Record<string, number>> | Record<string, number>;

const runners = new Registry<Runner>('validation runner');

export function registerRunner(name: string, runner: Runner): void {
  runners.register(name, runner);
}

export function runnerFor(name: string): Runner {
  const r = runners.get(name);
  if (!r) throw new SilicaError(`validation runner "${name}": unknown (expected one of ${runners.names().join(', ')})`);
  return r;
}

export function requireHw(hw: HardwareConfig | undefined, runner: string): HardwareConfig {
  if (!hw) throw new SilicaError(`validation runner ${runner}: expected a hw for this point`);
  return hw;
}

export const num = (params: Record<string, unknown>, key: string, fallback?: number): number => {
  const v = params[key] ?? fallback;
  if (typeof v !== 'number') throw new SilicaError(`validation params.${key}: expected a number, got ${JSON.stringify(v)}`);
  return v;
};

/** `params[key]` as true or false (`fallback` when absent; a bare YAML key, null, is refused). */
export function flag(params: Record<string, unknown>, key: string, fallback = false): boolean {
  const v = params[key] === undefined ? fallback : params[key];
  if (typeof v !== 'boolean') throw new SilicaError(`validation params.${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** `params[key]` as a whole number of at least `min` (`unit` names what it counts, in the error). */
export function wholeNum(params: Record<string, unknown>, key: string, min: number, options: { fallback?: number; unit?: string } = {}): number {
  const n = num(params, key, options.fallback);
  if (!Number.isInteger(n) || n < min) throw new SilicaError(`validation params.${key}: expected a whole number${options.unit ? ` of ${options.unit}` : ''}, at least ${min}, got ${n}`);
  return n;
}

/** `params.cus`: run on the first N CUs only (a CU mask, or an NVIDIA green context of N SMs). */
function cuSetOf(hw: HardwareConfig, p: Record<string, unknown>): CuSet | undefined {
  return p.cus === undefined ? undefined : firstNCus(makeCuLayout(hw.compute), num(p, 'cus'));
}

registerRunner('gemm', (hw, p) => {
  const cfg = requireHw(hw, 'gemm');
  const cus = cuSetOf(cfg, p);
  const kernel = gemmCost(cfg, { m: num(p, 'm'), n: num(p, 'n'), k: num(p, 'k'), batch: num(p, 'batch', 1), dtype: (p.dtype ?? 'bf16') as Dtype }, cus);
  const t = simulateKernel(cfg, kernel, cus).timeNs;
  return {
    tflops: kernel.flops / t / 1000,
    time_us: t / 1000,
    // One call's DRAM traffic. ncu counts the reads so with the caches flushed first
    // (gemm_traffic.py); part of the output is written back only after the kernel ends.
    dram_read_mb: kernel.hbmReadBytes / 1e6,
    dram_write_mb: kernel.hbmWriteBytes / 1e6,
    ...aloneClockMetrics(cfg, kernel, cus),
  };
});

/** Where the part models its power cap: the clock and board power a kernel alone would have. */
function aloneClockMetrics(cfg: HardwareConfig, kernel: KernelCost, cus: CuSet | undefined): { clock_mhz: number; power_w: number } | undefined {
  if (!cfg.compute.power) return undefined;
  const layout = makeCuLayout(cfg.compute);
  const alone = aloneClockAndPower(cfg, kernel, timeKernel(cfg, layout, cus ?? fullCuSet(layout), kernel))!;
  return { clock_mhz: alone.mhz, power_w: alone.watts };
}

registerRunner('stream', (hw, p) => {
  const cfg = requireHw(hw, 'stream');
  const op = (p.op ?? 'copy') as StreamOp;
  if (!STREAM_OP_NAMES.includes(op)) throw new SilicaError(`validation params.op: expected one of ${STREAM_OP_NAMES.join(', ')}, got ${JSON.stringify(p.op)}`);
  const kernel = streamCost(op, streamArrayBytes(cfg, op, (p.array_bytes as string | number) ?? '1GiB', 'validation params.array_bytes'));
  const cus = cuSetOf(cfg, p);
  const t = simulateKernel(cfg, kernel, cus).timeNs;
  return { achieved_gbps: (kernel.hbmReadBytes + kernel.hbmWriteBytes) / t, time_us: t / 1000, ...aloneClockMetrics(cfg, kernel, cus) };
});

/** Any single kernel description (row reductions, attention, elementwise...). */
registerRunner('kernel', (hw, p) => {
  const cfg = requireHw(hw, 'kernel');
  const cus = cuSetOf(cfg, p);
  const kernel = costKernel(cfg, p.desc as KernelDesc, cus);
  const t = simulateKernel(cfg, kernel, cus).timeNs;
  return { time_us: t / 1000, achieved_gbps: (kernel.hbmReadBytes + kernel.hbmWriteBytes) / t, tflops: kernel.flops / t / 1000 };
});
