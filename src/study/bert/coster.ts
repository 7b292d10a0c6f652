import { loadHardware } from '../../hw/config/load.js';
import type { HardwareConfig } from '../../hw/config/schema.js';
import { simulateCollective, type CollectiveKind } from '../../hw/collectives/index.js';
import { makeCuLayout, type CuLayout } from '../../hw/gpu/cu-layout.js';
import { fullCuSet, type CuSet } from '../../hw/gpu/cu-mask.js';
import { isDramBound, timeKernel } from '../../hw/gpu/kernel-timing.js';
import { aloneDynamicEnergyNj } from '../../hw/gpu/power.js';
import { costKernel, type KernelDesc } from '../../kernels/desc.js';
import type { KernelCost } from '../../kernels/types.js';

/** A kernel costed on a part in isolation: its time, work and which roof bounds it. */
export interface CostedKernel {
  cost: KernelCost;
  timeNs: number;
  flops: number;
  /** DRAM bytes (reads + writes). */
  bytes: number;
  /** Energy over the part's static power while it runs alone (nJ; 0 without a power model: power.ts aloneDynamicEnergyNj). */
  dynamicEnergyNj: number;
  /** 'memory' when DRAM sets its time: the HBM's capacity or its CUs' DRAM ports (the roofline's slanted side; isDramBound). */
  bound: 'memory' | 'compute';
}

/** Collective sizes are simulated on a grid of powers of 4 bytes and interpolated in between (see collectiveNs). */
const GRID_BASE = 4;
/** Below this, sizes are simulated exactly (cheap, and latency-dominated). */
const GRID_MIN_BYTES = 1 << 16;

/**
 * Kernel and collective costs on one hardware preset, memoised: a training iteration repeats a
 * few dozen kernel shapes hundreds of times, and a study repeats them across points.
 *
 * Kernel times are the isolated time of the hardware model (what `simulateKernel` returns for a
 * lone kernel: launch + max(compute critical path, DRAM time)). Collective times come from the
 * collectives engine (src/hw/collectives). Simulating a 64-GPU all-reduce takes seconds and a study
 * asks for dozens of bucket sizes, so each (kind, ranks) is simulated at the powers of 4 bytes that
 * bracket a size and interpolated linearly in between: past a few MiB a chunked ring's time is
 * latency + bytes / bandwidth, and the engine follows that line to within 1% inside one bracket
 * (checked in test/bert/coster.test.ts).
 */
export class HardwareCoster {
  readonly hw: HardwareConfig;
  private readonly layout: CuLayout;
  private readonly cus: CuSet;
  private readonly byDesc = new WeakMap<KernelDesc, CostedKernel>();
  private readonly byKey = new Map<string, CostedKernel>();
  private readonly simulated = new Map<string, number>();
  kernelLookups = 0;
  kernelMisses = 0;

  constructor(
    readonly hwRef: string,
    readonly overlays: readonly string[] = [],
  ) {
    this.hw = loadHardware(hwRef, [...overlays]);
    this.layout = makeCuLayout(this.hw.compute);
    this.cus = fullCuSet(this.layout);
  }

  kernel(desc: KernelDesc): CostedKernel {
    this.kernelLookups++;
    const hit = this.byDesc.get(desc);
    if (hit) return hit;
    const key = descKey(desc);
    let c = this.byKey.get(key);
    if (!c) {
      this.kernelMisses++;
      const cost = costKernel(this.hw, desc, this.cus);
      const t = timeKernel(this.hw, this.layout, this.cus, cost);
      const bytes = cost.hbmReadBytes + cost.hbmWriteBytes;
      c = { cost, timeNs: t.isolatedNs, flops: cost.flops, bytes, dynamicEnergyNj: aloneDynamicEnergyNj(this.hw, cost, t), bound: isDramBound(this.hw, t) ? 'memory' : 'compute' };
      this.byKey.set(key, c);
    }
    this.byDesc.set(desc, c);
    return c;
  }

  /**
   * Time of a collective over GPUs 0..ranks-1, or over the GPUs `ranks` lists of a system of
   * `worldSize` (a data-parallel group striding across tensor-parallel groups); GPUs beyond one
   * node span ceil(GPUs / gpus_per_node) nodes.
   */
  collectiveNs(kind: CollectiveKind, bytes: number, ranks: number | readonly number[], worldSize?: number): number {
    const group = collectiveGroup(ranks, worldSize);
    if (group.size <= 1 || bytes <= 0) return 0;
    if (bytes <= GRID_MIN_BYTES) return this.simulateCollective(kind, bytes, group);
    const lo = GRID_BASE ** Math.floor(Math.log(bytes) / Math.log(GRID_BASE) + 1e-12);
    const hi = lo * GRID_BASE;
    const tLo = this.simulateCollective(kind, lo, group);
    if (bytes === lo) return tLo;
    const tHi = this.simulateCollective(kind, hi, group);
    return tLo + ((tHi - tLo) * (bytes - lo)) / (hi - lo);
  }

  private simulateCollective(kind: CollectiveKind, bytes: number, group: CollectiveGroup): number {
    const key = `${kind}/${group.key}/${bytes}`;
    let t = this.simulated.get(key);
    if (t === undefined) {
      const nodes = Math.ceil(group.worldSize / this.hw.interconnect.gpus_per_node);
      const hw = nodes > this.hw.interconnect.nodes ? loadHardware(this.hwRef, [...this.overlays, `interconnect.nodes=${nodes}`]) : this.hw;
      t = simulateCollective(hw, group.worldSize, { kind, bytes, ...(group.ranks ? { ranks: [...group.ranks] } : {}) }).timeNs;
      this.simulated.set(key, t);
    }
    return t;
  }
}

/** A collective's GPUs: `size` of a system of `worldSize`, listed where they are not GPUs 0..size-1. */
interface CollectiveGroup {
  size: number;
  worldSize: number;
  ranks?: readonly number[];
  key: string;
}

function collectiveGroup(ranks: number | readonly number[], worldSize?: number): CollectiveGroup {
  if (typeof ranks === 'number') return { size: ranks, worldSize: ranks, key: String(ranks) };
  // GPUs 0..n-1 are the same collective whatever else the system holds: one key, the smaller system.
  if (ranks.every((g, i) => g === i)) return { size: ranks.length, worldSize: ranks.length, key: String(ranks.length) };
  const world = worldSize ?? Math.max(...ranks) + 1;
  return { size: ranks.length, worldSize: world, ranks, key: `${ranks.join(',')}@${world}` };
}

/** Shape key of a kernel description: everything but its name. */
function descKey(d: KernelDesc): string {
  const { name: _name, ...rest } = d as KernelDesc & { name?: string };
  return JSON.stringify(rest);
}
