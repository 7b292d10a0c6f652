import { makeResource, type FlowDemand, type Resource } from '../../core/flow-network.js';
import type { Flow, FlowSpec, Milestone, Simulator } from '../../core/simulator.js';
import type { KernelCost } from '../../kernels/types.js';
import type { HardwareConfig } from '../config/schema.js';
import { makeCuLayout, type CuLayout } from './cu-layout.js';
import { CuGate, type CuHold } from './cu-gate.js';
import { CuPool } from './cu-pool.js';
import { fillsCuSet, occupancy, type Occupancy } from './dispatcher.js';
import { fullCuSet, type CuSet } from './cu-mask.js';
import { kernelFlowWeight } from '../memory/hbm-share.js';
import { hbmBytesPerNs, timeKernel, type KernelTiming } from './kernel-timing.js';
import { PowerGovernor } from './power.js';
import { KernelPace } from './pace.js';
import { HbmLoadGovernor } from '../memory/hbm-load.js';
import { hbmKnee } from '../memory/hbm-knee.js';

/** One executed kernel, as every output (CSV, breakdown, Chrome trace) reports it. */
export interface KernelRecord {
  gpu: number;
  stream: string;
  name: string;
  category: string;
  pass?: string;
  startNs: number;
  endNs: number;
  flops: number;
  hbmReadBytes: number;
  hbmWriteBytes: number;
  cus: number;
  shape?: Record<string, number | string>;
  tile?: [number, number];
  /** Its dynamic energy (nJ), on parts with a power model (PowerGovernor.boardEnergyJ says how). */
  dynamicEnergyNj?: number;
}

/**
 * Where a kernel's record starts: a kernel that waited for CUs (at the gate, or for a collective's
 * CUs) is reported from when it could start, its launch latency before `startedNs`, not from its
 * issue: the wait is the other kernel's time.
 */
export function reportedStartNs(issuedNs: number, launchNs: number, startedNs: number): number {
  return startedNs > issuedNs + launchNs ? startedNs - launchNs : issuedNs;
}

export interface LaunchOptions {
  cuSet?: CuSet;
  stream?: string;
  pass?: string;
  /** Flow priority on shared resources (arbitration policies use this). */
  priority?: number;
  /** Max-min weight within a priority class (default 1); co-running streams may weight by isolated rate. */
  weight?: number;
  /** Fractions of progress (0..1] at which to call back, e.g. output chunks completing. */
  milestones?: Milestone[];
  onStart?: () => void;
  onComplete?: (record: KernelRecord) => void;
  /** Precomputed timing (memoised by the caller). */
  timing?: KernelTiming;
}

/**
 * A GPU in the simulator: its CU groups and HBM as shared resources, and a kernel launcher that
 * turns a kernel into one flow whose progress is limited by its critical path, by the CU time it
 * needs on each group (co-running kernels on overlapping CUs share it) and by DRAM bandwidth
 * (shared with every other flow on this GPU's HBM: kernels, DMA, NMC updates).
 */
export class Gpu {
  readonly layout: CuLayout;
  readonly allCus: CuSet;
  readonly hbm: Resource;
  readonly cuGroups: Resource[];
  /** The CUs co-running kernels share as CU time, less those kept whole (cu-pool.ts). */
  readonly pool: CuPool;
  readonly records: KernelRecord[] = [];
  recordKernels = true;
  /** The power cap's clock governor, where the part gives `compute.power` (power.ts). */
  readonly governor: PowerGovernor | undefined;
  /** The HBM knee's governor, where the part gives `memory.hbm.knee_exponent` (hbm-load.ts). */
  readonly loadGovernor: HbmLoadGovernor | undefined;
  private readonly names: GpuNames;
  /** Who may hold which CUs: a kernel whose grid fills its CUs keeps other streams' kernels off them. */
  private readonly gate = new CuGate();

  constructor(
    readonly sim: Simulator,
    readonly hw: HardwareConfig,
    readonly index: number,
    options: { hbmTimeline?: boolean } = {},
  ) {
    this.layout = makeCuLayout(hw.compute);
    this.allCus = fullCuSet(this.layout);
    this.names = namesOf(index, this.layout.groups);
    this.hbm = makeResource(this.names.hbm, hbmBytesPerNs(hw), { timeline: options.hbmTimeline });
    // Plain loops, not Array.from over the layout's typed array: that walks an iterator, and a
    // sweep of isolated kernels builds a GPU for every kernel (a third of its construction time).
    const cusInGroup: number[] = [];
    const cuGroups: Resource[] = [];
    for (let g = 0; g < this.layout.groups; g++) {
      cusInGroup.push(this.layout.cusInGroup[g]!);
      cuGroups.push(makeResource(this.names.cuGroups[g]!, this.layout.cusInGroup[g]!));
    }
    this.cuGroups = cuGroups;
    this.pool = new CuPool(sim, cuGroups, cusInGroup);
    this.governor = hw.compute.power ? new PowerGovernor(sim, hw.compute.power, hw.compute.clock_peak_mhz, (hw.compute.power.dram_w_per_tbps * hbmBytesPerNs(hw)) / 1000) : undefined;
    const knee = hbmKnee(hw);
    this.loadGovernor = knee ? new HbmLoadGovernor(sim, knee, hw.compute.dram_gbps_per_cu!, this.layout.cus) : undefined;
  }

  timing(kernel: KernelCost, cuSet: CuSet = this.allCus): KernelTiming {
    return timeKernel(this.hw, this.layout, cuSet, kernel);
  }

  /** Launches a kernel now; it starts running after its fixed launch latency. */
  launch(kernel: KernelCost, options: LaunchOptions = {}): void {
    const cuSet = options.cuSet ?? this.allCus;
    const t = options.timing ?? this.timing(kernel, cuSet);
    const sim = this.sim;
    const issuedNs = sim.nowNs;
    // A grid with a workgroup for every CU of its set holds the set (one resident workgroup per CU).
    const hold: CuHold | undefined = fillsCuSet(kernel.workgroups, cuSet, this.layout, this.hw.compute) ? { set: cuSet, contended: false } : undefined;
    sim.after(t.fixedNs, () => this.gate.admit(cuSet, hold, () => this.run(kernel, cuSet, t, issuedNs, hold, options)));
  }

  /** The kernel runs as one flow until it completes; a `hold` on its CUs ends with it (cu-gate.ts). */
  private run(kernel: KernelCost, cuSet: CuSet, t: KernelTiming, issuedNs: number, hold: CuHold | undefined, options: LaunchOptions): void {
    const sim = this.sim;
    options.onStart?.();
    const startNs = reportedStartNs(issuedNs, t.fixedNs, sim.nowNs);
    let held = hold !== undefined;
    /** Hands back CUs this kernel keeps out of the pool: its one wave's, or its last wave's. */
    let returnKeptCus: (() => void) | undefined;
    let stopWaitingForCus: (() => void) | undefined;
    let powerHandle: object | undefined;
    let loadHandle: object | undefined;
    const releaseCus = () => {
      if (!held) return;
      held = false;
      // Deferred to its own event when kernels wait: the gate then starts flows, and this may run
      // inside the solver's settling of milestones and completions.
      if (this.gate.idle) this.gate.release(hold!);
      else sim.after(0, () => this.gate.release(hold!));
    };
    const demands: FlowDemand[] = [];
    if (t.hbmBytes > 0) demands.push({ resource: this.hbm, perUnit: t.hbmBytes });
    // A grid smaller than its CU set runs in one wave, a workgroup to a CU, and keeps those CUs
    // until it ends: kernels of other streams get only the rest, while it runs at its own pace.
    // Until that many are free (others keep theirs) it shares CU time, as a grid that fills its set.
    const oneWaveCus = !hold && t.waves === 1 && t.wgNs > 0 ? t.workgroupsPerGroup : undefined;
    if (oneWaveCus && this.pool.canKeep(oneWaveCus)) returnKeptCus = this.pool.keep(oneWaveCus);
    else {
      t.cuNsPerGroup.forEach((cuNs, g) => {
        if (cuNs > 0) demands.push({ resource: this.cuGroups[g]!, perUnit: cuNs });
      });
    }
    const finish = () => {
      const record: KernelRecord = {
        gpu: this.index,
        stream: options.stream ?? 'compute',
        name: kernel.name,
        category: kernel.category,
        pass: options.pass,
        startNs,
        endNs: sim.nowNs,
        flops: kernel.flops,
        hbmReadBytes: kernel.hbmReadBytes,
        hbmWriteBytes: kernel.hbmWriteBytes,
        cus: cuSet.count,
        shape: kernel.shape,
        tile: kernel.tile,
      };
      stopWaitingForCus?.();
      if (powerHandle) record.dynamicEnergyNj = this.governor!.finished(powerHandle);
      if (loadHandle) this.loadGovernor!.finished(loadHandle);
      returnKeptCus?.();
      releaseCus();
      if (this.recordKernels) this.records.push(record);
      const stat = this.names.stats;
      sim.stats.add(stat.hbmReadBytes, kernel.hbmReadBytes);
      sim.stats.add(stat.hbmWriteBytes, kernel.hbmWriteBytes);
      sim.stats.add(stat.flops, kernel.flops);
      sim.stats.add(stat.kernels, 1);
      options.onComplete?.(record);
    };
    if (demands.length === 0 && t.criticalNs <= 0) {
      finish();
      return;
    }
    const spec: FlowSpec = {
      name: kernel.name,
      amount: 1,
      demands,
      maxRate: t.criticalNs > 0 ? 1 / t.criticalNs : Infinity,
      priority: options.priority ?? 1,
      // Sharing convention (hbm-share.ts): on the whole chip, the stand-alone progress rate (as DMA
      // transfers, dma.ts), so kernels slow alike ("fair slowdown") instead of the shortest winning
      // by the accident of its units; on a CU-masked lane, its CUs' share of the chip per ns of HBM
      // time, so lanes share a saturated HBM by their CUs, as the hardware does.
      weight:
        options.weight ??
        kernelFlowWeight({ criticalNs: t.criticalNs, hbmBytes: t.hbmBytes, cus: Math.max(1, Math.min(kernel.workgroups, cuSet.count)), setCus: cuSet.count, chipCus: this.allCus.count, hbmBytesPerNs: this.hbm.capacity }),
      milestones: options.milestones,
      onComplete: finish,
    };
    const flow = sim.startFlow(spec);
    if (this.governor || this.loadGovernor) {
      const pace = new KernelPace(sim, flow, t, this.cuGroups);
      if (this.governor) powerHandle = this.governor.started(pace, kernel, t);
      if (this.loadGovernor) loadHandle = this.loadGovernor.started(pace, cuSet);
    }
    if (oneWaveCus && !returnKeptCus) {
      stopWaitingForCus = this.pool.keepWhenFree(oneWaveCus, (release) => {
        returnKeptCus = release;
        this.runOnKeptCus(flow);
      });
    }
    if (hold) {
      hold.onContended = () => this.releaseAtLastWave(kernel, cuSet, t, flow, releaseCus, (fn) => (returnKeptCus = fn));
      if (hold.contended) hold.onContended();
    }
  }

  /**
   * A kernel another waits behind hands its CUs back once its last workgroup is dispatched: at the
   * start of a partial last wave (else at its end). From then on the wave keeps only its own CUs
   * and the waiting kernel runs on the idle ones. Armed only under contention, so a kernel nobody
   * waits for costs no extra event.
   */
  private releaseAtLastWave(kernel: KernelCost, cuSet: CuSet, t: KernelTiming, flow: Flow, release: () => void, onEnd: (fn: () => void) => void): void {
    const occ = occupancy(kernel.workgroups, cuSet, this.layout, this.hw.compute);
    if (occ.waves < 2 || occ.lastWaveCus >= cuSet.count) return;
    const at = (occ.waves - 1) / occ.waves;
    const handBack = () => {
      onEnd(this.keepLastWaveCus(occ, t, flow));
      release();
    };
    if (flow.done >= at) {
      handBack();
      return;
    }
    // A milestone of our own, in order among the caller's (the solver reads the flow's list as it goes).
    const ms = [...flow.milestones];
    flow.milestones = ms;
    let i = ms.length;
    while (i > flow.nextMilestone && ms[i - 1]!.at > at) i--;
    ms.splice(i, 0, { at, fire: handBack });
  }

  /**
   * The last wave's workgroups keep their CUs: those CUs leave the pool the kernels after it share,
   * and the wave needs no share of it, running at its own pace. Returns the hand-back of the CUs,
   * for the kernel's end.
   */
  private keepLastWaveCus(occ: Occupancy, t: KernelTiming, flow: Flow): () => void {
    let cuNs = 0;
    for (let g = 0; g < t.cuNsPerGroup.length; g++) cuNs += t.cuNsPerGroup[g]!;
    if (!(cuNs > 0)) return () => {};
    const returnCus = this.pool.keep(t.cuNsPerGroup.map((groupCuNs) => (occ.lastWaveCus * groupCuNs) / cuNs));
    this.runOnKeptCus(flow);
    return returnCus;
  }

  /** A kernel whose workgroups keep their CUs draws no CU time from the pool. */
  private runOnKeptCus(flow: Flow): void {
    for (const d of flow.demands) if (this.cuGroups.includes(d.resource)) d.perUnit = 0;
    this.sim.invalidateRates();
  }
}

/**
 * Resource and statistic names of GPU `index`, built once per process: a sweep of single-kernel
 * simulations builds a GPU per kernel, and formatting these strings each time was measurable.
 */
interface GpuNames {
  hbm: string;
  cuGroups: string[];
  stats: { hbmReadBytes: string; hbmWriteBytes: string; flops: string; kernels: string };
}

/** By GPU index, then by number of CU groups. */
const gpuNames: Array<Array<GpuNames | undefined> | undefined> = [];

function namesOf(index: number, groups: number): GpuNames {
  const byGroups = (gpuNames[index] ??= []);
  let names = byGroups[groups];
  if (!names) {
    const gpu = `gpu${index}`;
    names = {
      hbm: `${gpu}.hbm`,
      cuGroups: Array.from({ length: groups }, (_, g) => `${gpu}.cugroup${g}`),
      stats: { hbmReadBytes: `${gpu}.hbm.read_bytes`, hbmWriteBytes: `${gpu}.hbm.write_bytes`, flops: `${gpu}.flops`, kernels: `${gpu}.kernels` },
    };
    byGroups[groups] = names;
  }
  return names;
}

/**
 * An in-order queue of kernels bound to a CU set, like a HIP/CUDA stream (a CU-masked stream on
 * AMD). Kernels of different streams co-run; kernels of one stream run back to back.
 */
export class Stream {
  private queue: Array<{ kernel: KernelCost; options: LaunchOptions }> = [];
  private busy = false;

  constructor(
    readonly gpu: Gpu,
    readonly name: string,
    /**
     * The stream's CU mask, fixed when it is created as on the real part (hipExtStreamCreateWithCUMask;
     * a run-time policy switches between pre-created masked streams): read only, and a launch on the
     * stream may not name another.
     */
    readonly cuSet: CuSet = gpu.allCus,
  ) {}

  get idle(): boolean {
    return !this.busy && this.queue.length === 0;
  }

  enqueue(kernel: KernelCost, options: LaunchOptions = {}): void {
    if (options.cuSet && options.cuSet.key !== this.cuSet.key) {
      throw new Error(`stream ${this.name}: a launch may not change the stream's CU mask (fixed when the stream is created)`);
    }
    this.queue.push({ kernel, options });
    if (!this.busy) this.next();
  }

  private next(): void {
    const item = this.queue.shift();
    if (!item) {
      this.busy = false;
      return;
    }
    this.busy = true;
    const o = item.options;
    // Every field named, not spread: callers' options come in many shapes, and spreading them was
    // the serving study's costliest line (a generic object copy per kernel). The type makes a new
    // LaunchOptions field a compile error here until it is passed on.
    const launch: { [K in keyof Required<LaunchOptions>]: LaunchOptions[K] } = {
      cuSet: this.cuSet,
      stream: this.name,
      pass: o.pass,
      priority: o.priority,
      weight: o.weight,
      milestones: o.milestones,
      onStart: o.onStart,
      timing: o.timing,
      onComplete: (record) => {
        o.onComplete?.(record);
        this.next();
      },
    };
    this.gpu.launch(item.kernel, launch);
  }
}
