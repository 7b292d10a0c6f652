import { makeResource, type FlowDemand, type Resource } from '../../core/flow-network.js';
import { SilicaError } from '../../core/errors.js';
import { dmaEnginesOf, dstHbmCostPerByte, isolatedRate } from '../dma/dma.js';
import { firstNCus } from '../gpu/cu-mask.js';
import { reportedStartNs } from '../gpu/gpu.js';
import { cuBytesPerNs } from '../gpu/kernel-timing.js';
import { interconnectOf, type Link } from '../link/topology.js';
import type { System } from '../system.js';
import type { Plan, Step } from './plan.js';

/**
 * Runs a collective's plan on a System with one of two engines:
 * - `cu`: a kernel on `cus` CUs of every participating GPU, as NCCL/RCCL run collectives. The CUs
 *   are held for the kernel's lifetime (persistent workgroups spinning on flags), so a co-running
 *   kernel loses them: the CU groups' capacity drops by the held CUs. The data the kernel moves
 *   (reads, reduces, stores, remote stores) goes through those CUs: the held CUs are dealt evenly
 *   over the GPU's channels and a channel moves at most its CUs x per-CU bytes/ns, per-CU being
 *   the smaller of the CU's L1 path and Little's law on `interconnect.collective.
 *   bytes_in_flight_per_cu` over the DRAM latency. The held CUs are one resource per GPU, so local
 *   work (a final copy or reduction) running beside the link channels shares them with those
 *   channels rather than using them a second time. Link bytes carry the protocol overhead (LL128
 *   flags). A kernel launch precedes the first step.
 * - `dma`: each step goes to the executing GPU's DMA engine with the fewest of the collective's
 *   bytes queued; no CUs, a setup per step, reductions as near-memory updates at the destination.
 * Every step is a flow over the path's links, both GPUs' HBM and the engine.
 */
export type EngineKind = 'cu' | 'dma';

export interface ExecuteOptions {
  engine: EngineKind;
  cus: number;
  priority: number;
  name: string;
}

export interface ExecuteResult {
  startNs: number;
  endNs: number;
  linkBytes: number;
  hbmBytes: number;
}

const SENDING: ReadonlySet<string> = new Set(['link', 'switch-out', 'nic-out']);

/** Bytes per ns one CU moves for a collective kernel. */
export function collectiveBytesPerNsPerCu(system: System): number {
  const hw = system.hw;
  const littleNs = hw.interconnect.collective.bytes_in_flight_per_cu / Math.max(1, hw.memory.hbm.latency_ns);
  return Math.min(cuBytesPerNs(hw), littleNs);
}

export function execute(system: System, plan: Plan, opts: ExecuteOptions, onDone: (r: ExecuteResult) => void): void {
  const sim = system.sim;
  const hw = system.hw;
  const ic = interconnectOf(system);
  /** The issue; a CU-engine kernel that waited for its CUs is reported as kernels are (reportedStartNs). */
  let startNs = sim.nowNs;
  let linkBytes = 0;
  let hbmBytes = 0;
  const linkPerUnit = opts.engine === 'cu' ? 1 / hw.interconnect.collective.protocol_efficiency : 1;
  const updateFactor = () => dstHbmCostPerByte(system, 'update');

  const queues: Step[][] = Array.from({ length: plan.channelCount }, () => []);
  for (const s of plan.steps) queues[s.channel]!.push(s);
  const head = new Int32Array(plan.channelCount);
  const busy = new Uint8Array(plan.channelCount);
  const stepsLeft = new Map<number, number>();
  for (const s of plan.steps) stepsLeft.set(s.gpu, (stepsLeft.get(s.gpu) ?? 0) + 1);
  // DMA engine: a step goes to the engine of its GPU with the fewest bytes of this collective's
  // steps queued on it (the first of equals), as T3 spreads its chunks over the engines. With an
  // engine for every channel each step finds one idle, as when each channel was bound to an engine
  // of its own; with fewer, binding left them unevenly loaded (7 rings on 2 engines: 4 and 3).
  const dmaBytes = new Map<Resource, number>();
  const engineFor = (gpu: number, bytes: number): Resource => {
    let best: Resource | undefined;
    let fewest = Infinity;
    for (const engine of dmaEnginesOf(system, gpu).engines) {
      const queued = dmaBytes.get(engine) ?? 0;
      if (queued < fewest) [best, fewest] = [engine, queued];
    }
    dmaBytes.set(best!, fewest + bytes);
    return best!;
  };
  // CU engine: the held CUs are dealt evenly over the GPU's link channels (one NCCL channel = a
  // workgroup on its own CUs); a step moves at most its channel's share.
  const linkChannels = new Map<number, Set<number>>();
  for (const s of plan.steps) {
    if (!linkChannels.has(s.gpu)) linkChannels.set(s.gpu, new Set());
    if (s.from !== s.to || s.custom) linkChannels.get(s.gpu)!.add(s.channel);
  }
  const heldCuBytesPerNs = opts.cus * collectiveBytesPerNsPerCu(system);
  const channelBytesPerNs = new Map<number, number>();
  for (const [gpu, set] of linkChannels) channelBytesPerNs.set(gpu, heldCuBytesPerNs / Math.max(1, set.size));
  const heldCus = new Map<number, Resource>();
  const heldCusOf = (gpu: number): Resource => {
    let cus = heldCus.get(gpu);
    if (!cus) heldCus.set(gpu, (cus = makeResource(`${opts.name}.gpu${gpu}.cus`, heldCuBytesPerNs)));
    return cus;
  };
  const releases = new Map<number, () => void>();
  // Per-GPU DRAM traffic, added to the stats (gpuN.hbm.read_bytes / write_bytes / update_bytes,
  // the names kernels use) when the collective completes.
  const dram = { read: new Float64Array(system.gpus.length), write: new Float64Array(system.gpus.length), update: new Float64Array(system.gpus.length) };
  const finish = () => {
    for (const release of releases.values()) release(); // receivers that executed no step
    for (let g = 0; g < system.gpus.length; g++) {
      if (dram.read[g]) sim.stats.add(`gpu${g}.hbm.read_bytes`, dram.read[g]!);
      if (dram.write[g]) sim.stats.add(`gpu${g}.hbm.write_bytes`, dram.write[g]!);
      if (dram.update[g]) sim.stats.add(`gpu${g}.hbm.update_bytes`, dram.update[g]!);
    }
    onDone({ startNs, endNs, linkBytes, hbmBytes });
  };
  let pending = plan.steps.length;
  let endNs = startNs;

  if (plan.steps.some((s) => s.cost.dstUpdate > 0)) {
    if (opts.engine === 'cu') throw new SilicaError(`${opts.name}: near-memory updates need the dma engine`);
    updateFactor(); // fails here, before the run, when the part has no near-memory compute
  }

  /** A fan-out step's links: each receiver's path in turn. */
  const fanOutHops = (s: Step): Link[] => {
    const hops = [...ic.hops(s.from, s.to)];
    for (const g of s.also!) hops.push(...ic.hops(s.from, g));
    return hops;
  };

  /** A step's links: its path, a fan-out step's every receiver's in turn, or its custom ports. */
  const hopsOf = (s: Step): Link[] => (s.custom ? s.custom.ports : s.also ? fanOutHops(s) : ic.hops(s.from, s.to));

  /**
   * The step a channel is running, with what its flow's end needs. A channel runs one step at a
   * time (busy), so each channel has one of these, rewritten per step, and one pair of callbacks
   * reading it (with a result object, an arrival object and two closures per step the executor
   * allocated 1.3 GB of the T3 study's 6.1 GB; now 0.7).
   */
  interface Running {
    step: Step;
    hops: Link[];
    sendingHops: number;
    latencyNs: number;
    hbmPerByte: number;
    maxRate: number;
    weight: number;
    engine: Resource | undefined;
    /** The step's flow demands, from demandsOf until its flow starts (the flow keeps them). */
    demands?: FlowDemand[];
    name: string;
    /** The GPU `name` was written for (-1 before the first step). */
    nameGpu: number;
    begin: () => void;
    onComplete: () => void;
  }
  const running: Array<Running | undefined> = [];

  /** The step's flow demands; fills in `r`'s numbers for it. */
  const demandsOf = (s: Step, r: Running): FlowDemand[] => {
    const demands: FlowDemand[] = [];
    const hops = hopsOf(s);
    const perUnit = s.custom ? s.custom.linkPerUnit : linkPerUnit;
    if (s.also) {
      // A link two receivers' paths share (a NIC sending to two child nodes) carries the bytes
      // twice: one demand of twice the bytes, as the solver and the isolated rate read a demand.
      for (const l of hops) {
        const d = demands.find((x) => x.resource === l.resource);
        if (d) d.perUnit += perUnit;
        else demands.push({ resource: l.resource, perUnit });
      }
    } else for (const l of hops) demands.push({ resource: l.resource, perUnit });
    // DRAM bytes per byte moved, one demand per GPU touched (in first-touched order, a GPU's
    // parts summed). A plain step touches at most its two ends, so it needs no map: a 64-GPU
    // collective has 10^5 steps, and a map and a closure for each were a fifth of its allocation.
    let hbmPerByte = 0;
    if (s.custom) {
      const hbm = new Map<number, number>();
      for (const h of s.custom.hbm) if (h.perUnit > 0) hbm.set(h.gpu, (hbm.get(h.gpu) ?? 0) + h.perUnit);
      for (const [g, perUnit] of hbm) hbmPerByte += addHbm(demands, g, perUnit);
    } else {
      const src = s.cost.srcRead + s.cost.srcWrite;
      const dst = s.cost.dstWrite + (s.cost.dstUpdate > 0 ? s.cost.dstUpdate * updateFactor() : 0);
      if (s.from !== s.to) {
        if (src > 0) hbmPerByte += addHbm(demands, s.from, src);
        if (dst > 0) hbmPerByte += addHbm(demands, s.to, dst);
        if (dst > 0 && s.also) for (const g of s.also) hbmPerByte += addHbm(demands, g, dst);
      } else if (src > 0) hbmPerByte += addHbm(demands, s.from, dst > 0 ? src + dst : src);
      else if (dst > 0) hbmPerByte += addHbm(demands, s.from, dst);
    }
    let maxRate = Infinity;
    let weightCap = Infinity;
    let engine: Resource | undefined;
    if (opts.engine === 'cu') {
      const cuBytes = s.cost.srcRead + s.cost.srcWrite + s.cost.dstWrite * (1 + (s.also?.length ?? 0));
      if (cuBytes > 0) {
        demands.push({ resource: heldCusOf(s.gpu), perUnit: cuBytes });
        // A link step moves at most its channel's share. Local work (a final copy or reduction)
        // may use all the held CUs between link steps, and beside them weighs as one channel more:
        // NCCL runs it in a channel's loop, not on CUs of its own.
        weightCap = channelBytesPerNs.get(s.gpu)! / cuBytes;
        if (s.from !== s.to || s.custom) maxRate = weightCap;
      }
    } else {
      engine = engineFor(s.gpu, s.bytes);
      demands.push({ resource: engine, perUnit: 1 });
    }
    let latencyNs = s.custom ? s.custom.latencyNs : ic.latencyNs(s.from, s.to);
    if (s.also) for (const g of s.also) latencyNs = Math.max(latencyNs, ic.latencyNs(s.from, g));
    let sendingHops = 0;
    for (const l of hops) if (SENDING.has(l.kind)) sendingHops++;
    r.hops = hops;
    r.sendingHops = sendingHops;
    r.latencyNs = latencyNs;
    r.hbmPerByte = hbmPerByte;
    r.maxRate = maxRate;
    r.weight = isolatedRate(demands, Math.min(maxRate, weightCap));
    r.engine = engine;
    return demands;
  };
  /** Adds GPU `g`'s DRAM demand; returns its bytes per byte moved. */
  const addHbm = (demands: FlowDemand[], g: number, perUnit: number): number => {
    demands.push({ resource: system.gpus[g]!.hbm, perUnit });
    return perUnit;
  };

  const finishGpu = (gpu: number) => {
    const left = stepsLeft.get(gpu)! - 1;
    stepsLeft.set(gpu, left);
    if (left === 0) releases.get(gpu)?.();
  };

  // Arrivals at the same instant are delivered by one event (symmetric steps finish together), so
  // the rates are re-solved once per instant rather than once per channel.
  const arrivals = new Map<number, Step[]>();
  const arrive = (atNs: number, step: Step) => {
    let batch = arrivals.get(atNs);
    if (batch) {
      batch.push(step);
      return;
    }
    arrivals.set(atNs, (batch = [step]));
    sim.at(atNs, () => {
      arrivals.delete(atNs);
      endNs = Math.max(endNs, sim.nowNs);
      for (const a of batch!) {
        ic.recordReceived(hopsOf(a), a.bytes);
        for (const n of a.next) {
          n.deps--;
          tryStart(n.channel);
        }
        pending--;
      }
      if (pending === 0) finish();
    });
  };

  /** Channel `channel`'s record and callbacks, made at its first step. */
  const runningOn = (channel: number): Running => {
    let r = running[channel];
    if (r) return r;
    const rr: Running = {
      step: undefined!,
      hops: [],
      sendingHops: 0,
      latencyNs: 0,
      hbmPerByte: 0,
      maxRate: 0,
      weight: 0,
      engine: undefined,
      demands: undefined,
      name: '',
      nameGpu: -1,
      begin: () => {
        sim.startFlow({
          name: rr.name,
          amount: rr.step.bytes,
          demands: rr.demands!,
          maxRate: rr.maxRate,
          weight: rr.weight,
          priority: opts.priority,
          onComplete: rr.onComplete,
        });
        rr.demands = undefined;
      },
      onComplete: () => {
        const step = rr.step;
        step.done = true;
        if (rr.engine) dmaBytes.set(rr.engine, dmaBytes.get(rr.engine)! - step.bytes);
        linkBytes += rr.sendingHops * step.bytes;
        hbmBytes += rr.hbmPerByte * step.bytes;
        if (!step.custom) {
          dram.read[step.from]! += step.cost.srcRead * step.bytes;
          dram.write[step.from]! += step.cost.srcWrite * step.bytes;
          dram.write[step.to]! += step.cost.dstWrite * step.bytes;
          dram.update[step.to]! += step.cost.dstUpdate * step.bytes;
          if (step.also) {
            for (const g of step.also) {
              dram.write[g]! += step.cost.dstWrite * step.bytes;
              dram.update[g]! += step.cost.dstUpdate * step.bytes;
            }
          }
        }
        ic.recordSent(rr.hops, step.bytes);
        busy[channel] = 0;
        head[channel]!++;
        finishGpu(step.gpu);
        arrive(sim.nowNs + rr.latencyNs, step);
        tryStart(channel);
      },
    };
    running[channel] = r = rr;
    return r;
  };

  const tryStart = (channel: number): void => {
    if (busy[channel]) return;
    const step = queues[channel]![head[channel]!];
    if (!step || step.deps > 0) return;
    busy[channel] = 1;
    const r = runningOn(channel);
    r.step = step;
    r.demands = demandsOf(step, r);
    if (r.nameGpu !== step.gpu) {
      r.name = `${opts.name}.gpu${step.gpu}.ch${channel}`;
      r.nameGpu = step.gpu;
    }
    if (opts.engine === 'dma') sim.after(hw.dma.setup_ns, r.begin);
    else r.begin();
  };

  const start = () => {
    if (pending === 0) {
      endNs = sim.nowNs;
      finish();
      return;
    }
    for (let c = 0; c < plan.channelCount; c++) tryStart(c);
  };
  const launch = () => {
    if (opts.engine !== 'cu') return start();
    // Every participant runs the kernel (a receive-only GPU too), each on its first `cus` CUs, a
    // workgroup per CU that moves data only while resident. The CUs leave the pool co-running
    // kernels share (cu-pool.ts) once all of them are free: where other kernels keep some (a grid of
    // one wave, a last wave), the collective starts when they are free on every participant (a rank
    // whose CUs came first holds them meanwhile, as a resident kernel waiting for its peers does);
    // it never moves data at the rate of CUs it does not have.
    const participants = new Set<number>();
    for (const s of plan.steps) {
      participants.add(s.gpu).add(s.to);
      if (s.also) for (const g of s.also) participants.add(g);
    }
    let waiting = participants.size;
    if (waiting === 0) return start();
    for (const gpu of participants) {
      system.gpus[gpu]!.pool.keepWhenFree(firstNCus(system.gpus[gpu]!.layout, opts.cus).perGroup, (release) => {
        releases.set(gpu, release);
        if (--waiting > 0) return;
        startNs = reportedStartNs(startNs, hw.compute.kernel_launch_ns, sim.nowNs);
        start();
      });
    }
  };
  if (opts.engine === 'cu') sim.after(hw.compute.kernel_launch_ns, launch);
  else sim.after(0, launch);
}
