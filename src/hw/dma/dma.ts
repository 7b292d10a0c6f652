import { makeResource, type FlowDemand, type Resource } from '../../core/flow-network.js';
import { SilicaError } from '../../core/errors.js';
import type { Flow, Milestone } from '../../core/simulator.js';
import { interconnectOf } from '../link/topology.js';
import type { System } from '../system.js';

/**
 * DMA (SDMA / copy) engines: each GPU has `dma.engines` engines of `dma.engine_gbps` each, as
 * resources. A transfer is one flow that reads the source GPU's HBM, crosses every link of the
 * path and writes the destination's HBM (or, in `update` mode, applies a near-memory op-and-store
 * costing `memory.nmc.update_cost_factor` bytes of DRAM time per byte, the T3 reduction). It takes
 * no CU time, but shares HBM and links with everything else. Setup and the path latency are paid
 * before the bytes move (equivalent, for the end time, to paying the latency at the end).
 * A transfer within one GPU (src = dst) is an SDMA-style local copy; note that CUDA runs those on
 * the SMs instead (measured on an H200, validation/measured/h200-141gb-hbm3e-dma.json), so a
 * study of an NVIDIA part should cost a local copy as a kernel (the `memcpy` kernel op).
 */
export interface DmaTransfer {
  src: number;
  dst: number;
  bytes: number;
  mode?: 'write' | 'update';
  priority?: number;
  name?: string;
  onComplete: () => void;
  /** Progress callbacks in bytes (ascending), e.g. per-chunk notifications. */
  milestones?: Milestone[];
  /** The transfer's flow has started (after setup and latency); T3's tracker throttles it by credits. */
  onStart?: (flow: Flow) => void;
}

/** One GPU's DMA engines; transfers are dealt round-robin so concurrent copies spread out. */
export class DmaEngines {
  readonly engines: Resource[];
  private next = 0;

  constructor(system: System, gpu: number) {
    const { engines, engine_gbps } = system.hw.dma;
    this.engines = Array.from({ length: engines }, (_, e) => makeResource(`gpu${gpu}.dma${e}`, engine_gbps));
  }

  pick(): Resource {
    const engine = this.engines[this.next]!;
    this.next = (this.next + 1) % this.engines.length;
    return engine;
  }
}

/**
 * Default flow priority of transfers: the same class as kernels (Gpu.launch uses 1), so DMA and
 * compute share HBM max-min fairly unless an arbitration policy (T3's MCA) says otherwise.
 */
export const TRANSFER_PRIORITY = 1;

/**
 * Weight convention for transfer flows: their isolated rate (bytes/ns they would get alone), so a
 * saturated resource slows every flow crossing it by the same factor (demand-proportional sharing,
 * as a memory controller serving queued requests does). Kernels follow it when launched with
 * weight 1 / isolatedNs (see Gpu.launch's `weight`).
 */
export function isolatedRate(demands: readonly FlowDemand[], maxRate = Infinity): number {
  let rate = maxRate;
  for (const d of demands) if (d.perUnit > 0) rate = Math.min(rate, d.resource.capacity / d.perUnit);
  return Number.isFinite(rate) && rate > 0 ? rate : 1;
}

const cache = new WeakMap<System, DmaEngines[]>();

export function dmaEnginesOf(system: System, gpu: number): DmaEngines {
  let all = cache.get(system);
  if (!all) {
    all = system.gpus.map((_, g) => new DmaEngines(system, g));
    cache.set(system, all);
  }
  const engines = all[gpu];
  if (!engines) throw new SilicaError(`dma: GPU ${gpu}: expected an index from 0 to ${system.gpus.length - 1}`);
  return engines;
}

/** HBM bytes of DRAM time the destination spends per byte delivered. */
export function dstHbmCostPerByte(system: System, mode: 'write' | 'update'): number {
  if (mode === 'write') return 1;
  const nmc = system.hw.memory.nmc;
  if (!nmc.enabled) throw new SilicaError(`dma update: ${system.hw.name} has memory.nmc.enabled false (near-memory updates need it)`);
  return nmc.update_cost_factor;
}

export function dmaTransfer(system: System, t: DmaTransfer): void {
  if (!(t.bytes >= 0) || !Number.isFinite(t.bytes)) throw new SilicaError(`dma: bytes: expected a non-negative number, got ${t.bytes}`);
  const ic = interconnectOf(system);
  const hops = ic.hops(t.src, t.dst);
  const engine = dmaEnginesOf(system, t.src).pick();
  const srcGpu = system.gpus[t.src]!;
  const dstGpu = system.gpus[t.dst]!;
  const demands: FlowDemand[] = [{ resource: engine, perUnit: 1 }];
  for (const l of hops) demands.push({ resource: l.resource, perUnit: 1 });
  const dstCost = dstHbmCostPerByte(system, t.mode ?? 'write');
  if (srcGpu === dstGpu) demands.push({ resource: srcGpu.hbm, perUnit: 1 + dstCost });
  else demands.push({ resource: srcGpu.hbm, perUnit: 1 }, { resource: dstGpu.hbm, perUnit: dstCost });
  const sim = system.sim;
  const latencyNs = ic.latencyNs(t.src, t.dst);
  sim.after(system.hw.dma.setup_ns + latencyNs, () => {
    const flow = sim.startFlow({
      name: t.name ?? `dma${t.src}->${t.dst}`,
      amount: t.bytes,
      demands,
      weight: isolatedRate(demands),
      priority: t.priority ?? TRANSFER_PRIORITY,
      milestones: t.milestones,
      onComplete: () => {
        ic.recordSent(hops, t.bytes);
        ic.recordReceived(hops, t.bytes);
        sim.stats.add(`gpu${t.src}.dma.bytes`, t.bytes);
        sim.stats.add(`gpu${t.src}.hbm.read_bytes`, t.bytes);
        sim.stats.add(`gpu${t.dst}.hbm.${t.mode === 'update' ? 'update' : 'write'}_bytes`, t.bytes);
        t.onComplete();
      },
    });
    t.onStart?.(flow);
  });
}
