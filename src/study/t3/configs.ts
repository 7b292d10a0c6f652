import { SilicaError } from '../../core/errors.js';
import type { UsageSegment } from '../../core/flow-network.js';
import type { HardwareConfig } from '../../hw/config/schema.js';
import { dmaRings, startCollective } from '../../hw/collectives/index.js';
import { ringsFor } from '../../hw/collectives/rings.js';
import { makeCuLayout } from '../../hw/gpu/cu-layout.js';
import { cuRange } from '../../hw/gpu/cu-mask.js';
import { interconnectOf } from '../../hw/link/topology.js';
import { MemorySystem } from '../../hw/memory/arbitration.js';
import { checkSimulatedGpus, System } from '../../hw/system.js';
import { runFusedGemmRs, type FusedOptions } from '../../hw/t3/fused.js';
import { latencyTolerance, producerGemm, type LatencyTolerance, type ProducerGemm } from '../../hw/t3/producer-gemm.js';
import { runProducer, type Segment } from '../../hw/t3/producer.js';
import type { GemmShape } from '../../kernels/gemm.js';

/**
 * The configurations of the T3 study (mission.md §2), each simulated on every GPU of the TP group:
 * - `sequential`: GEMM (outputs cached), then the CU ring reduce-scatter, then the all-gather;
 * - `t3`: fused GEMM + RS (tracker, triggered DMA, NMC updates, staggered, uncached outputs) under
 *   the part's own arbitration (`memory.arbitration.policy`: FR-FCFS-like `fair` in every preset,
 *   the published T3 without MCA), then the all-gather;
 * - `t3-mca`: the same under MCA arbitration;
 * - `t3-mca-adaptive`: the same under MCA while the GEMM is the critical side and fair arbitration
 *   while the reduce-scatter is (policies/mca-adaptive.ts): not a published design, silica's what-if;
 * - `ideal-overlap`: max(GEMM alone, RS alone) + AG — overlap with no contention at all;
 * - `ideal-rs-nmc`: sequential, but the RS is T3's own, run alone after the GEMM: triggered DMA
 *   forwards and near-memory updates (no CU reduction), on outputs already in memory;
 * - `ideal-overlap-nmc`: max(GEMM alone, that RS alone) + AG — the bound for T3, whose RS is the
 *   same one (`ideal-overlap` is not: T3's RS is faster than the CU ring's);
 * - `cu-split`: the GEMM on the other CUs, cut into pieces whose RS runs on N CUs as soon as the
 *   piece is done everywhere (concurrent with the next piece), then the all-gather.
 * Only the reduce-scatter is ever fused or overlapped; the all-gather runs after, on CUs, as usual.
 */
export const CONFIGURATIONS = ['sequential', 't3', 't3-mca', 't3-mca-adaptive', 'ideal-overlap', 'ideal-rs-nmc', 'ideal-overlap-nmc', 'cu-split'] as const;
export type Configuration = (typeof CONFIGURATIONS)[number];

export interface RunOptions {
  /** Record GPU 0's DRAM traffic timeline. */
  timeline?: boolean;
  /** Staggered workgroup order for t3 (default true). */
  staggered?: boolean;
  /** CUs the cu-split collective holds. */
  cuSplitCus?: number;
  /** Pieces the cu-split GEMM is cut into. */
  cuSplitPieces?: number;
}

export interface ConfigResult {
  configuration: Configuration;
  time_us: number;
  /** End of the (last) GEMM, from the sub-layer's start. */
  gemm_us: number;
  /** End of the reduce-scatter, from the start. */
  rs_end_us: number;
  ag_us: number;
  dram_read_bytes: number;
  /** Plain writes plus near-memory updates (each updated byte counted once). */
  dram_write_bytes: number;
  dram_update_bytes: number;
  /** The producer GEMM's DRAM reads over the group (the rest of dram_read_bytes is collective traffic). */
  gemm_read_bytes: number;
  /** DRAM reads of the reduce-scatter alone (fused or not), over the group. */
  rs_read_bytes: number;
  link_bytes: number;
  tracker_max_entries?: number;
  tracker_fallback_chunks?: number;
  producer_stall_us?: number;
  first_stage_dram_util?: number;
  /** GPU 0's DRAM channel usage (bytes/ns, updates at their cost), when asked for. */
  timeline?: UsageSegment[];
}

interface Phases {
  gemmEndNs: number;
  rsEndNs: number;
  agEndNs: number;
  extra?: Partial<ConfigResult>;
}

function dramTotals(system: System): Pick<ConfigResult, 'dram_read_bytes' | 'dram_write_bytes' | 'dram_update_bytes'> {
  const st = system.sim.stats;
  let read = 0;
  let write = 0;
  let update = 0;
  system.gpus.forEach((_, g) => {
    read += st.get(`gpu${g}.hbm.read_bytes`);
    write += st.get(`gpu${g}.hbm.write_bytes`);
    update += st.get(`gpu${g}.hbm.update_bytes`);
  });
  // Whole bytes: chunked flows sum to the traffic up to float rounding (collective.ts does the same).
  return { dram_read_bytes: Math.round(read), dram_write_bytes: Math.round(write + update), dram_update_bytes: Math.round(update) };
}

/** All GPUs run a producer whose outputs are local writes; `onAllDone` when the last ends. */
function runPlainProducers(system: System, memory: MemorySystem, p: ProducerGemm, latency: LatencyTolerance, opts: { cuSet?: ReturnType<typeof cuRange>; pieces?: number; onPiece?: (piece: number) => void }, onAllDone: () => void): void {
  const pieces = opts.pieces ?? 1;
  let left = system.gpus.length;
  const piecesDone = new Array<number>(pieces).fill(0);
  system.gpus.forEach((_, g) => {
    const stages: Segment[][] = Array.from({ length: pieces }, (_, i) => [{
      from: Math.floor((i * p.tiles) / pieces),
      to: Math.floor(((i + 1) * p.tiles) / pieces),
      output: { kind: 'write' },
      onDone: () => {
        if (++piecesDone[i]! === system.gpus.length) opts.onPiece?.(i);
      },
    }]);
    runProducer({
      system,
      gpu: g,
      kernel: p.kernel,
      tiles: p.tiles,
      outputBytes: p.outputBytes,
      cuSet: opts.cuSet,
      stages,
      batchesPerSegment: 1,
      priority: memory.controllers[g]!.arbiter.computePriority,
      controller: memory.controllers[g],
      latency,
      firstStages: 1,
      onComplete: () => {
        if (--left === 0) onAllDone();
      },
    });
  });
}

/** Every requested configuration of one sub-layer; the runs an ideal overlap is derived from are shared. */
export function runSublayer(hw: HardwareConfig, shape: GemmShape, tp: number, configurations: readonly Configuration[], o: RunOptions = {}): ConfigResult[] {
  checkRun(hw, tp, configurations, o);
  const runs = new Map<Configuration, ConfigResult>();
  const run = (c: Configuration) => runs.get(c) ?? runs.set(c, runConfiguration(hw, shape, tp, c, o)).get(c)!;
  return configurations.map((c) => {
    const from = IDEAL_FROM[c];
    return from ? idealOverlap(run(from), c) : run(c);
  });
}

/** The ideal overlaps, each derived from the run whose GEMM, RS and AG it overlaps. */
const IDEAL_FROM: Partial<Record<Configuration, Configuration>> = { 'ideal-overlap': 'sequential', 'ideal-overlap-nmc': 'ideal-rs-nmc' };

/** Overlap with no contention: the GEMM and the RS of a run one after the other, each as if alone, overlapped; then the AG. */
function idealOverlap(serial: ConfigResult, configuration: Configuration): ConfigResult {
  const rsUs = serial.rs_end_us - serial.gemm_us;
  return { ...serial, configuration, time_us: Math.max(serial.gemm_us, rsUs) + serial.ag_us, rs_end_us: Math.max(serial.gemm_us, rsUs), timeline: undefined };
}

/**
 * Checked before the first configuration runs, so a bad value fails at once. The TP group is the
 * GPUs simulated, all of one part: it must fit the part and stay within what one simulation holds
 * (named after --tp: the topology's own check would say --gpus, which t3 does not have).
 */
function checkRun(hw: HardwareConfig, tp: number, configurations: readonly Configuration[], o: RunOptions): void {
  checkTpGroup(hw, tp);
  const problem = cuSplitCusProblem(hw, o.cuSplitCus ?? 16);
  if (configurations.includes('cu-split') && problem) throw new SilicaError(`--cu-split-cus: ${problem}`);
}

/** A TP group of `tp` GPUs must fit the part and one simulation; the message names --tp. */
export function checkTpGroup(hw: HardwareConfig, tp: number): void {
  checkSimulatedGpus(tp, '--tp');
  const ic = hw.interconnect;
  const capacity = ic.gpus_per_node * ic.nodes;
  if (tp > capacity) throw new SilicaError(`--tp: ${hw.name} has ${ic.gpus_per_node} GPUs per node x ${ic.nodes} node(s) = ${capacity}, got ${tp} (set interconnect.nodes for a multi-node system)`);
}

/** Why cu-split cannot give its collective `cus` CUs of the part (the GEMM keeps at least one), or undefined. */
export function cuSplitCusProblem(hw: HardwareConfig, cus: number): string | undefined {
  const ok = Number.isInteger(cus) && cus >= 1 && cus < hw.compute.cus;
  return ok ? undefined : `expected a whole number from 1 to ${hw.compute.cus - 1}, got ${cus}`;
}

export function runConfiguration(hw: HardwareConfig, shape: GemmShape, tp: number, configuration: Configuration, o: RunOptions = {}): ConfigResult {
  const from = IDEAL_FROM[configuration];
  if (from) return idealOverlap(runConfiguration(hw, shape, tp, from, o), configuration);
  checkRun(hw, tp, [configuration], o);
  const splitCus = o.cuSplitCus ?? 16;
  const system = new System(hw, tp, { hbmTimeline: o.timeline });
  const sim = system.sim;
  const ic = interconnectOf(system);
  const ranks = Array.from({ length: tp }, (_, i) => i);
  const fused = configuration === 't3' || configuration === 't3-mca' || configuration === 't3-mca-adaptive';
  // The MCA configurations name their policy; every other runs under the part's, so that a policy
  // of one's own (--set memory.arbitration.policy=NAME) is what `t3` measures.
  const policy = configuration === 't3-mca' ? 'mca' : configuration === 't3-mca-adaptive' ? 'mca-adaptive' : hw.memory.arbitration.policy;
  const memory = new MemorySystem(system, { ...hw.memory.arbitration, policy });
  const layout = makeCuLayout(hw.compute);
  const producerCus = configuration === 'cu-split' ? cuRange(layout, splitCus, hw.compute.cus - splitCus) : undefined;
  const p = producerGemm(hw, shape, { uncachedOutput: fused, cus: producerCus ?? hw.compute.cus });
  // The output the reduce-scatter and the all-gather carry, as the fused path forwards it.
  const outBytes = p.outputBytes;
  const latency = latencyTolerance(hw, p, shape, producerCus?.count ?? hw.compute.cus);
  const phases: Phases = { gemmEndNs: 0, rsEndNs: 0, agEndNs: 0 };

  let readsBeforeAg = 0;
  const allGather = () => {
    readsBeforeAg = dramTotals(system).dram_read_bytes;
    startCollective(system, { kind: 'all-gather', bytes: outBytes, ranks, algo: 'ring', engine: 'cu', name: 'ag' }, (out) => {
      phases.agEndNs = out.endNs;
    });
  };
  const reduceScatter = () =>
    startCollective(system, { kind: 'reduce-scatter', bytes: outBytes, ranks, algo: 'ring', engine: 'cu', name: 'rs' }, (out) => {
      phases.rsEndNs = out.endNs;
      allGather();
    });

  // T3's reduce-scatter, fused with the producer or (outputsReady) alone after it, as ideal-rs-nmc
  // runs it. Its rings: on a switch one ring in rank order is run on as many DMA engines side by
  // side as its port needs (H100: 4 of 100 GB/s for a 380 GB/s port). With the bare ring a forward
  // had one engine, and T3 ran at a quarter of its own RS's rate (H100, Mega-GPT-2 FC-2 at TP 8:
  // 1.6x slower than sequential).
  const t3ReduceScatter = (run: Pick<FusedOptions, 'onComplete' | 'staggered' | 'outputsReady'>) =>
    runFusedGemmRs({ system, rings: dmaRings(system, ic, ringsFor(ic, ranks)), producer: p, latency, memory, ...run });

  if (tp === 1) {
    runPlainProducers(system, memory, p, latency, {}, () => {
      phases.gemmEndNs = phases.rsEndNs = phases.agEndNs = sim.nowNs;
    });
  } else if (fused) {
    t3ReduceScatter({
      staggered: o.staggered ?? true,
      onComplete: (r) => {
        phases.gemmEndNs = r.producerEndNs;
        phases.rsEndNs = r.endNs;
        phases.extra = {
          tracker_max_entries: r.tracker.maxEntriesUsed,
          tracker_fallback_chunks: r.tracker.fallbackChunks,
          producer_stall_us: r.stalledNs / 1000 / tp,
          first_stage_dram_util: r.firstStageUtilisation,
        };
        allGather();
      },
    });
  } else if (configuration === 'cu-split') {
    const pieces = Math.max(1, Math.min(o.cuSplitPieces ?? 4, p.tiles));
    let nextRs = 0;
    let running = false;
    let ready = 0;
    let gemmDone = false;
    // One communication queue: piece i's RS starts when the piece is done on every GPU and the
    // previous RS has finished (it holds the same N CUs).
    const pump = () => {
      if (running || nextRs >= ready) return;
      running = true;
      const bytes = outBytes * ((Math.floor(((nextRs + 1) * p.tiles) / pieces) - Math.floor((nextRs * p.tiles) / pieces)) / p.tiles);
      nextRs++;
      startCollective(system, { kind: 'reduce-scatter', bytes, ranks, algo: 'ring', engine: 'cu', cus: splitCus, name: `rs.piece${nextRs - 1}` }, (out) => {
        running = false;
        if (nextRs === pieces) {
          phases.rsEndNs = out.endNs;
          if (gemmDone) allGather();
        } else pump();
      });
    };
    runPlainProducers(
      system,
      memory,
      p,
      latency,
      { cuSet: producerCus, pieces, onPiece: () => ((ready += 1), pump()) },
      () => {
        phases.gemmEndNs = sim.nowNs;
        gemmDone = true;
        if (nextRs === pieces && !running) allGather();
      },
    );
  } else if (configuration === 'ideal-rs-nmc') {
    // T3's own reduce-scatter after the GEMM: the same rings, DMA commands, forwarding and
    // near-memory updates as the fused run, on outputs already in memory. (Until session 39 it
    // was silica's DMA-engine ring collective, which forwards whole blocks as T3 then did.)
    runPlainProducers(system, memory, p, latency, {}, () => {
      phases.gemmEndNs = sim.nowNs;
      t3ReduceScatter({
        outputsReady: true,
        onComplete: (r) => {
          phases.rsEndNs = r.endNs;
          allGather();
        },
      });
    });
  } else {
    runPlainProducers(system, memory, p, latency, {}, () => {
      phases.gemmEndNs = sim.nowNs;
      reduceScatter();
    });
  }
  sim.run();
  if (!(phases.agEndNs > 0)) throw new Error(`t3 ${configuration}: the sub-layer did not complete`);
  const result: ConfigResult = {
    configuration,
    time_us: phases.agEndNs / 1000,
    gemm_us: phases.gemmEndNs / 1000,
    rs_end_us: phases.rsEndNs / 1000,
    ag_us: (phases.agEndNs - phases.rsEndNs) / 1000,
    ...dramTotals(system),
    gemm_read_bytes: p.kernel.hbmReadBytes * tp,
    rs_read_bytes: Math.round(Math.max(0, (tp === 1 ? 0 : readsBeforeAg) - p.kernel.hbmReadBytes * tp)),
    link_bytes: Math.round(ic.linkBytes()),
    ...phases.extra,
  };
  if (o.timeline) result.timeline = system.gpus[0]!.hbm.timeline;
  return result;
}
