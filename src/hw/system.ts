import { Simulator } from '../core/simulator.js';
import { SilicaError } from '../core/errors.js';
import type { KernelCost } from '../kernels/types.js';
import type { HardwareConfig } from './config/schema.js';
import { Gpu, type KernelRecord } from './gpu/gpu.js';
import type { CuSet } from './gpu/cu-mask.js';

export interface SystemOptions {
  /** Record per-resource usage timelines of HBM (for DRAM traffic plots). */
  hbmTimeline?: boolean;
}

/**
 * The most GPUs one simulation holds, wherever a GPU count comes from (bert --dp, a trace's world
 * size, replay --gpus, t3 --tp). Every rank is simulated explicitly, at a cost that grows faster
 * than the ranks (~3 s at 64, ~5 s at 128, ~27 s at 256 on a 2-core machine; a thousand ranks ran
 * for minutes without finishing, or exhausted memory).
 */
export const MAX_SIMULATED_GPUS = 256;

/** `gpus`, or a one-line error naming `field` (a flag, or a file and its field) when it exceeds the bound. */
export function checkSimulatedGpus(gpus: number, field: string): number {
  if (gpus > MAX_SIMULATED_GPUS) throw new SilicaError(`${field}: expected at most ${MAX_SIMULATED_GPUS} GPUs (every one is simulated), got ${gpus}`);
  return gpus;
}

/**
 * A node: GPUs sharing one simulator clock. Interconnect, DMA engines and the track-and-trigger
 * unit attach to it (see src/hw/link, src/hw/dma, src/hw/t3).
 */
export class System {
  readonly sim = new Simulator();
  readonly gpus: Gpu[];

  constructor(
    readonly hw: HardwareConfig,
    gpuCount = 1,
    options: SystemOptions = {},
  ) {
    if (!Number.isInteger(gpuCount) || gpuCount < 1) throw new SilicaError(`--gpus: expected a positive whole number, got ${gpuCount}`);
    this.gpus = [];
    for (let i = 0; i < gpuCount; i++) this.gpus.push(new Gpu(this.sim, hw, i, { hbmTimeline: options.hbmTimeline }));
  }

  get records(): KernelRecord[] {
    return this.gpus.flatMap((g) => g.records).sort((a, b) => a.startNs - b.startNs || a.gpu - b.gpu);
  }
}

export interface KernelRun {
  kernel: KernelCost;
  timeNs: number;
  cus: number;
  /** Board energy over the kernel's run (J), on parts with a power model (`compute.power`). */
  boardEnergyJ?: number;
}

/** A run's board power (W, over its time) and energy (µJ), on parts with a power model; undefined elsewhere. */
export function kernelRunEnergy(run: KernelRun): { board_power_w: number; energy_uj: number } | undefined {
  if (run.boardEnergyJ === undefined || !(run.timeNs > 0)) return undefined;
  return { board_power_w: (run.boardEnergyJ * 1e9) / run.timeNs, energy_uj: run.boardEnergyJ * 1e6 };
}

/** Simulates one kernel alone on one GPU (optionally on a CU subset). */
export function simulateKernel(hw: HardwareConfig, kernel: KernelCost, cuSet?: CuSet): KernelRun {
  const system = new System(hw, 1);
  const gpu = system.gpus[0]!;
  const set = cuSet ?? gpu.allCus;
  let endNs = 0;
  gpu.launch(kernel, { cuSet: set, onComplete: (r) => (endNs = r.endNs) });
  system.sim.run();
  const run: KernelRun = { kernel, timeNs: endNs, cus: set.count };
  if (gpu.governor) run.boardEnergyJ = gpu.governor.boardEnergyJ(endNs);
  return run;
}
