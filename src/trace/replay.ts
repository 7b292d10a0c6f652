import { SilicaError } from '../core/errors.js';
import { startCollective } from '../hw/collectives/index.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import type { KernelRecord } from '../hw/gpu/gpu.js';
import type { KernelTiming } from '../hw/gpu/kernel-timing.js';
import { interconnectOf } from '../hw/link/topology.js';
import { System } from '../hw/system.js';
import { costKernel, type KernelDesc } from '../kernels/desc.js';
import type { KernelCost } from '../kernels/types.js';
import { attributeTimeline, type Breakdown, type Interval } from './breakdown.js';
import { collectiveBytes, COSTED_AS } from './comm.js';
import { programGraph, validateTrace } from './graph.js';
import { inNode } from './kernel-fields.js';
import { checkGpus, matchCommunication, planStreams, type CollectiveInstance, type Message, type ProgramPlan } from './replay-plan.js';
import { programOf, programWhere, rankWhere, type Trace, type TraceCollectiveKind, type TraceNode } from './types.js';

/**
 * Multi-GPU trace replay: every rank simulated explicitly on one System (one clock, shared links).
 *
 * Per rank, a node is issued when all its dependencies have finished and it is at the head of its
 * stream; a stream runs one node at a time in the program's (stable topological) order, and the
 * streams of a rank co-run. Kernels are costed on the part (memoised by description and CU set)
 * and run as flows sharing the GPU's CUs and HBM; collectives wait until every rank of their group
 * has issued them (the k-th collective of a group on each rank is one instance), then run on the
 * collectives model; a send starts its transfer when issued (eager), and the matching receive
 * (k-th with the same source, destination and tag) completes when the data has arrived; delays
 * and host ops hold their stream for their duration.
 *
 * Nodes that carry both a kernel and a recorded duration (Chakra COMP nodes) are replayed from the
 * recorded duration with `chakraTiming: 'duration'` (default) and from the kernel model with
 * 'model'. A collective whose group is a single rank (a trace of rank 0 only) replays its
 * recorded duration, as there is no peer to simulate.
 */
export interface ReplayOptions {
  /** GPUs to simulate (default: the trace's world size). An SPMD trace whose collectives span all
   * ranks may be replayed on more or fewer GPUs (data parallelism scaled). */
  gpus?: number;
  chakraTiming?: 'duration' | 'model';
  /** Keep every node's record (for CSV and Chrome traces; default true). */
  recordTimeline?: boolean;
}

export interface ReplayRecord extends KernelRecord {
  rank: number;
  nodeId: number;
  kind: TraceNode['kind'];
  device: 'gpu' | 'host';
}

export interface ReplayCollective {
  name: string;
  kind: TraceCollectiveKind | 'send-recv';
  /** Collectives-model algorithm family it was costed as (see comm.ts). */
  costedAs: string;
  bytes: number;
  ranks: number[];
  firstArrivalNs: number;
  startNs: number;
  endNs: number;
  linkBytes: number;
  hbmBytes: number;
  algo?: string;
}

export interface ReplayStats {
  gpus: number;
  /** Nodes of the System (the preset's node count, raised when the trace has more ranks). */
  systemNodes: number;
  nodes: number;
  kernels: number;
  delays: number;
  hostNodes: number;
  collectives: number;
  p2pMessages: number;
  /** Nodes replayed from a recorded duration rather than a cost model. */
  fromRecordedDuration: number;
  /** Collectives over a one-rank group, replayed from their recorded duration. */
  singleRankCollectives: number;
  flops: number;
  hbmBytes: number;
  kernelCostLookups: number;
  kernelCostHitRate: number;
  events: number;
}

export interface ReplayResult {
  totalNs: number;
  breakdown: Breakdown;
  records: ReplayRecord[];
  /** Each GPU's SM clock over time, [ns, MHz] at each change, where the part models its power cap (compute.power) and the timeline is recorded. */
  clocks: Array<Array<[number, number]>>;
  collectives: ReplayCollective[];
  stats: ReplayStats;
  /**
   * Each GPU's board energy over the replay (J, from 0 to totalNs), where the part models its
   * power (compute.power): static power throughout plus the governor's dynamic power of the
   * kernels it ran. Nodes replayed at a recorded time, collectives and transfers add none.
   */
  boardEnergyJ?: number[];
}

interface RankRun {
  rank: number;
  program: TraceNode[];
  /** What errors about its nodes name: the file it was read from, else `trace` (`trace: rank r`). */
  where: string;
  plan: ProgramPlan;
  userStart: Int32Array;
  userList: Int32Array;
  pending: Int32Array;
  heads: Int32Array;
  busy: Uint8Array;
  issuedNs: Float64Array;
  /** Collective instance / p2p message key of each node. */
  matchKey: Array<string | undefined>;
  done: number;
}

interface CostEntry {
  cost: KernelCost;
  timing: KernelTiming;
}

export function replayTrace(trace: Trace, hw: HardwareConfig, options: ReplayOptions = {}): ReplayResult {
  return new Replay(trace, hw, options).run();
}

class Replay {
  private readonly system: System;
  private readonly gpus: number;
  private readonly runs: RankRun[] = [];
  private readonly instances: Map<string, CollectiveInstance>;
  private readonly messages: Map<string, Message>;
  private readonly byDesc = new WeakMap<KernelDesc, CostEntry>();
  private readonly byKey = new Map<string, CostEntry>();
  private readonly records: ReplayRecord[] = [];
  private readonly collectives: ReplayCollective[] = [];
  private readonly intervals: Interval[] = [];
  private readonly useDuration: boolean;
  private readonly keep: boolean;
  private lastEndNs = 0;
  private order = 0;
  private readonly stats: ReplayStats;

  constructor(
    trace: Trace,
    hw: HardwareConfig,
    options: ReplayOptions,
  ) {
    validateTrace(trace, 'trace');
    this.gpus = checkGpus(trace, options.gpus);
    const ic = hw.interconnect;
    // A trace with more ranks than one preset node holds runs on several such nodes (NIC-joined);
    // a GPU count asked for (scaling an SPMD trace) must fit the part, as for `silica collective`.
    const scaled = this.gpus !== trace.worldSize;
    const systemNodes = scaled ? ic.nodes : Math.max(ic.nodes, Math.ceil(this.gpus / ic.gpus_per_node));
    const effective = systemNodes === ic.nodes ? hw : { ...hw, interconnect: { ...ic, nodes: systemNodes } };
    this.system = new System(effective, this.gpus);
    if (scaled) interconnectOf(this.system);
    for (const g of this.system.gpus) g.recordKernels = false;
    this.useDuration = (options.chakraTiming ?? 'duration') === 'duration';
    this.keep = options.recordTimeline ?? true;
    if (this.keep) for (const g of this.system.gpus) g.governor?.recordSteps();
    this.stats = {
      gpus: this.gpus,
      systemNodes,
      nodes: 0,
      kernels: 0,
      delays: 0,
      hostNodes: 0,
      collectives: 0,
      p2pMessages: 0,
      fromRecordedDuration: 0,
      singleRankCollectives: 0,
      flops: 0,
      hbmBytes: 0,
      kernelCostLookups: 0,
      kernelCostHitRate: 0,
      events: 0,
    };
    const plans = new Map<TraceNode[], ProgramPlan>();
    for (let r = 0; r < this.gpus; r++) {
      const program = programOf(trace, trace.programs.length === 1 ? 0 : r);
      const where = programWhere(trace, r);
      const graph = programGraph(program, where);
      let plan = plans.get(program);
      if (!plan) plans.set(program, (plan = planStreams(program, graph.order)));
      const pending = new Int32Array(program.length);
      for (let i = 0; i < program.length; i++) pending[i] = graph.depStart[i + 1]! - graph.depStart[i]!;
      this.runs.push({
        rank: r,
        program,
        where,
        plan,
        userStart: graph.userStart,
        userList: graph.userList,
        pending,
        heads: new Int32Array(plan.queues.length),
        busy: new Uint8Array(plan.queues.length),
        issuedNs: new Float64Array(program.length),
        matchKey: [],
        done: 0,
      });
      this.stats.nodes += program.length;
    }
    const matched = matchCommunication(
      this.runs.map((r) => ({ rank: r.rank, program: r.program, order: programGraph(r.program, r.where).order, where: rankWhere(trace, r.rank) })),
      this.gpus,
    );
    this.runs.forEach((r) => (r.matchKey = matched.keys[r.rank]!));
    this.instances = matched.instances;
    this.messages = matched.messages;
  }

  run(): ReplayResult {
    for (const run of this.runs) for (let s = 0; s < run.plan.queues.length; s++) this.tryStream(run, s);
    this.system.sim.run();
    this.checkFinished();
    const totalNs = this.lastEndNs;
    this.stats.events = this.system.sim.eventsProcessed;
    const lookups = this.stats.kernelCostLookups;
    this.stats.kernelCostHitRate = lookups ? 1 - this.byKey.size / lookups : 0;
    const clocks = this.system.gpus.map((g) => g.governor?.clockSteps() ?? []);
    const result: ReplayResult = { totalNs, breakdown: attributeTimeline(this.intervals, totalNs, 0), records: this.records, clocks, collectives: this.collectives, stats: this.stats };
    if (this.system.hw.compute.power) result.boardEnergyJ = this.system.gpus.map((g) => g.governor!.boardEnergyJ(totalNs));
    return result;
  }

  private tryStream(run: RankRun, s: number): void {
    if (run.busy[s]) return;
    const q = run.plan.queues[s]!;
    const h = run.heads[s]!;
    if (h >= q.length) return;
    const i = q[h]!;
    if (run.pending[i]! > 0) return;
    run.heads[s] = h + 1;
    run.busy[s] = 1;
    this.start(run, i);
  }

  private start(run: RankRun, i: number): void {
    const node = run.program[i]!;
    const sim = this.system.sim;
    run.issuedNs[i] = sim.nowNs;
    if (node.device === 'host') {
      this.stats.hostNodes++;
      this.delay(run, i, node.durationNs ?? 0, 2);
      return;
    }
    switch (node.kind) {
      case 'kernel': {
        if (this.useDuration && node.durationNs !== undefined) {
          this.stats.fromRecordedDuration++;
          this.delay(run, i, node.durationNs, 0);
          return;
        }
        let entry: CostEntry;
        try {
          entry = this.kernelCost(node.kernel!);
        } catch (err) {
          throw inNode(err, run.where, node);
        }
        const { cost, timing } = entry;
        const gpu = this.system.gpus[run.rank]!;
        this.stats.kernels++;
        gpu.launch(cost, {
          timing,
          stream: node.stream,
          pass: node.pass,
          onComplete: (rec) => {
            this.stats.flops += cost.flops;
            this.stats.hbmBytes += cost.hbmReadBytes + cost.hbmWriteBytes;
            this.finish(run, i, 0, rec);
          },
        });
        return;
      }
      case 'delay':
        if (node.durationNs !== undefined) this.stats.fromRecordedDuration++;
        this.delay(run, i, node.durationNs ?? 0, 0);
        return;
      case 'collective': {
        const key = run.matchKey[i];
        if (key === undefined) {
          this.stats.singleRankCollectives++;
          this.delay(run, i, node.durationNs ?? 0, 1);
          return;
        }
        const inst = this.instances.get(key)!;
        inst.arrived.push([run.rank, i]);
        inst.firstArrivalNs = Math.min(inst.firstArrivalNs, sim.nowNs);
        if (inst.arrived.length === inst.ranks.length) this.launchCollective(inst);
        return;
      }
      case 'send': {
        const msg = this.messages.get(run.matchKey[i]!)!;
        const issued = sim.nowNs;
        this.stats.p2pMessages++;
        startCollective(this.system, { kind: 'send-recv', bytes: msg.bytes, ranks: [msg.src, msg.dst], src: msg.src, dst: msg.dst, name: node.name }, (o) => {
          this.collectives.push({ name: node.name, kind: 'send-recv', costedAs: 'send-recv', bytes: msg.bytes, ranks: [msg.src, msg.dst], firstArrivalNs: issued, startNs: o.startNs, endNs: o.endNs, linkBytes: o.linkBytes, hbmBytes: o.hbmBytes, algo: o.algo });
          msg.arrived = true;
          this.finish(run, i, 1);
          if (msg.waiting) this.finish(this.runs[msg.waiting[0]]!, msg.waiting[1], 1);
        });
        return;
      }
      case 'recv': {
        const msg = this.messages.get(run.matchKey[i]!)!;
        if (msg.arrived) sim.after(0, () => this.finish(run, i, 1));
        else msg.waiting = [run.rank, i];
        return;
      }
    }
  }

  private launchCollective(inst: CollectiveInstance): void {
    this.stats.collectives++;
    const costedAs = COSTED_AS[inst.kind];
    const bytes = collectiveBytes(inst.kind, inst.bytes);
    startCollective(this.system, { kind: costedAs, bytes, ranks: inst.ranks, name: inst.name }, (o) => {
      this.collectives.push({ name: inst.name, kind: inst.kind, costedAs, bytes: inst.bytes, ranks: inst.ranks, firstArrivalNs: inst.firstArrivalNs, startNs: o.startNs, endNs: o.endNs, linkBytes: o.linkBytes, hbmBytes: o.hbmBytes, algo: o.algo });
      for (const [rank, i] of inst.arrived) this.finish(this.runs[rank]!, i, 1);
    });
  }

  private delay(run: RankRun, i: number, durationNs: number, cls: 0 | 1 | 2): void {
    this.stats.delays++;
    this.system.sim.after(durationNs, () => this.finish(run, i, cls));
  }

  /** Memoised kernel cost and timing, by description object, then by its content. */
  private kernelCost(desc: KernelDesc): CostEntry {
    this.stats.kernelCostLookups++;
    let e = this.byDesc.get(desc);
    if (e) return e;
    const gpu = this.system.gpus[0]!;
    // Names do not change the cost: twelve identical layers share one entry.
    const key = JSON.stringify(desc, (k, v) => (k === 'name' ? undefined : v)) + '|' + gpu.allCus.key;
    e = this.byKey.get(key);
    if (!e) {
      const cost = costKernel(this.system.hw, desc, gpu.allCus);
      e = { cost, timing: gpu.timing(cost, gpu.allCus) };
      this.byKey.set(key, e);
    }
    this.byDesc.set(desc, e);
    return e;
  }

  private finish(run: RankRun, i: number, cls: 0 | 1 | 2, rec?: KernelRecord): void {
    const node = run.program[i]!;
    const now = this.system.sim.nowNs;
    // A kernel that waited for CUs another stream's kernel held starts when it could run (Gpu.run).
    const startNs = rec ? Math.max(rec.startNs, run.issuedNs[i]!) : run.issuedNs[i]!;
    run.done++;
    if (now > this.lastEndNs) this.lastEndNs = now;
    if (this.keep) {
      this.records.push({
        gpu: run.rank,
        stream: node.stream,
        name: node.name,
        category: node.category,
        pass: node.pass,
        startNs,
        endNs: now,
        flops: rec?.flops ?? 0,
        hbmReadBytes: rec?.hbmReadBytes ?? 0,
        hbmWriteBytes: rec?.hbmWriteBytes ?? 0,
        cus: rec?.cus ?? 0,
        shape: rec?.shape,
        tile: rec?.tile,
        rank: run.rank,
        nodeId: node.id,
        kind: node.kind,
        device: node.device ?? 'gpu',
      });
    }
    if (run.rank === 0) this.intervals.push({ startNs, endNs: now, cls, category: node.category, pass: node.pass, order: this.order++ });
    const s = run.plan.streamOf[i]!;
    run.busy[s] = 0;
    for (let k = run.userStart[i]!; k < run.userStart[i + 1]!; k++) {
      const u = run.userList[k]!;
      if (--run.pending[u]! === 0) this.tryStream(run, run.plan.streamOf[u]!);
    }
    this.tryStream(run, s);
  }

  private checkFinished(): void {
    const stuck: string[] = [];
    for (const run of this.runs) {
      if (run.done === run.program.length) continue;
      for (let s = 0; s < run.plan.queues.length && stuck.length < 3; s++) {
        const h = run.heads[s]!;
        if (!run.busy[s] || h === 0) continue;
        const node = run.program[run.plan.queues[s]![h - 1]!]!;
        const key = run.matchKey[run.plan.queues[s]![h - 1]!];
        const inst = key ? this.instances.get(key) : undefined;
        const missing = inst ? inst.ranks.filter((r) => !inst.arrived.some(([rank]) => rank === r)) : [];
        stuck.push(`rank ${run.rank} waits in ${node.kind} ${node.id} "${node.name}"${missing.length ? ` (ranks ${missing.join(',')} never reach it)` : ''}`);
      }
      if (stuck.length === 0) stuck.push(`rank ${run.rank} has ${run.program.length - run.done} nodes that never became ready`);
    }
    if (stuck.length) throw new SilicaError(`replay deadlocked at ${(this.system.sim.nowNs / 1000).toFixed(3)} us: ${stuck.join('; ')} (collectives must be reached in the same order by every member)`);
  }
}
