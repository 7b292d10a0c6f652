import { SilicaError } from '../core/errors.js';
import { checkSimulatedGpus } from '../hw/system.js';
import type { Trace, TraceCollectiveKind, TraceNode } from './types.js';

/**
 * What replay works out before the clock starts: each program's streams and their queues, how many
 * GPUs to simulate, and which nodes of different ranks meet (collective instances, p2p messages).
 * Mismatches (a rank missing a collective, a send without its recv) are reported here, as one
 * line, rather than as a deadlock half-way through a long run.
 */
export interface ProgramPlan {
  streamNames: string[];
  streamOf: Int32Array;
  /** Node indices of each stream, in the program's topological order. */
  queues: Int32Array[];
}

/** Streams of a program and each stream's queue of node indices, in topological order. */
export function planStreams(program: TraceNode[], order: Int32Array): ProgramPlan {
  const streamIndex = new Map<string, number>();
  const streamOf = new Int32Array(program.length);
  const lists: number[][] = [];
  for (const i of order) {
    const name = program[i]!.stream;
    let s = streamIndex.get(name);
    if (s === undefined) {
      s = lists.length;
      streamIndex.set(name, s);
      lists.push([]);
    }
    streamOf[i] = s;
    lists[s]!.push(i);
  }
  return { streamNames: [...streamIndex.keys()], streamOf, queues: lists.map((l) => Int32Array.from(l)) };
}

export function checkGpus(trace: Trace, gpus: number | undefined): number {
  // The CLI names the trace's file and field first (replay.ts); this guards other callers.
  if (gpus === undefined) return checkSimulatedGpus(trace.worldSize, 'trace: world_size');
  if (!Number.isInteger(gpus) || gpus < 1) throw new SilicaError(`--gpus: expected a positive whole number, got ${gpus}`);
  checkSimulatedGpus(gpus, '--gpus');
  if (gpus === trace.worldSize) return gpus;
  const spmdAllRanks =
    trace.programs.length === 1 && trace.programs[0]!.every((n) => n.kind !== 'send' && n.kind !== 'recv' && (n.kind !== 'collective' || n.collective!.group.length === 0));
  if (!spmdAllRanks) throw new SilicaError(`--gpus: the trace is for ${trace.worldSize} ranks (world_size), got ${gpus}; only an SPMD trace whose collectives span all ranks can be replayed on another GPU count`);
  // A tensor-parallel trace's kernels are one shard of a TP-k split: its collectives on other
  // ranks would join shards of one split with the communication of another, a setup no one runs.
  // Data-parallel ranks (tp 1) replicate the whole step, so their count may change.
  const tp = trace.meta.tp;
  if (typeof tp === 'number' && tp > 1) {
    throw new SilicaError(`--gpus: the trace was lowered for tensor parallelism ${tp} (meta.tp), its kernels one shard of that split, got ${gpus}; emit it with --tp ${gpus}, or replay it on ${trace.worldSize} GPUs`);
  }
  // Under ZeRO each rank's optimizer updates, and ZeRO-3's gathers assemble, 1/dp of the weights:
  // on another count the shards would no longer cover the model once.
  const zero = trace.meta.zero_stage;
  if (typeof zero === 'number' && zero > 0) {
    throw new SilicaError(`--gpus: the trace was lowered for ZeRO stage ${zero} over ${trace.worldSize} data-parallel ranks (meta.zero_stage), each rank's optimizer one 1/${trace.worldSize} shard of the weights, got ${gpus}; emit it with --dp ${gpus}, or replay it on ${trace.worldSize} GPUs`);
  }
  return gpus;
}

/** One collective as all its ranks run it: the k-th collective on a group, on every member. */
export interface CollectiveInstance {
  kind: TraceCollectiveKind;
  name: string;
  /** Largest size any member states. */
  bytes: number;
  ranks: number[];
  /** [rank, node index] of the members that have issued it. */
  arrived: Array<[number, number]>;
  firstArrivalNs: number;
}

/** One point-to-point message: the k-th send from src to dst with a tag and its matching recv. */
export interface Message {
  src: number;
  dst: number;
  bytes: number;
  arrived: boolean;
  /** [rank, node index] of a recv issued before the data arrived. */
  waiting?: [number, number];
}

export interface RankProgram {
  rank: number;
  program: TraceNode[];
  order: Int32Array;
  /** What errors about this rank name: its file (and rank), see rankWhere. */
  where: string;
}

/**
 * Gives each collective node its instance key (group, k-th on that group, counted in topological
 * order) and each send/recv its message key (src, dst, tag, k-th). Collectives over a one-rank
 * group get no key (replayed as their recorded duration).
 */
export function matchCommunication(ranks: RankProgram[], gpus: number): { keys: Array<Array<string | undefined>>; instances: Map<string, CollectiveInstance>; messages: Map<string, Message> } {
  const allRanks = Array.from({ length: gpus }, (_, r) => r);
  const instances = new Map<string, CollectiveInstance>();
  const messages = new Map<string, Message>();
  const keys: Array<Array<string | undefined>> = [];
  const counts = new Map<string, number[]>();
  const p2pCount = new Map<string, number>();
  const whereOf = new Map(ranks.map((r) => [r.rank, r.where]));
  for (const { rank, program, order, where: rankAt } of ranks) {
    const seq = new Map<string, number>();
    const key: Array<string | undefined> = new Array(program.length);
    keys[rank] = key;
    for (const i of order) {
      const node = program[i]!;
      const where = `${rankAt} node ${node.id} "${node.name}"`;
      if (node.kind === 'collective') {
        const c = node.collective!;
        const members = c.group.length ? c.group : allRanks;
        if (members.length === 1) continue;
        if (!members.includes(rank)) throw new SilicaError(`${where}: collective.group ${members.join(',')} does not include the rank that runs it`);
        const groupKey = members.join(',');
        const k = seq.get(groupKey) ?? 0;
        seq.set(groupKey, k + 1);
        key[i] = `${groupKey}#${k}`;
        const inst = instances.get(key[i]!);
        if (!inst) instances.set(key[i]!, { kind: c.kind, name: node.name, bytes: c.bytes, ranks: members, arrived: [], firstArrivalNs: Infinity });
        else {
          if (inst.kind !== c.kind) throw new SilicaError(`${where}: collective ${k + 1} on group [${groupKey}] is ${c.kind}, but another rank's is ${inst.kind} (collectives of a group must match in order)`);
          inst.bytes = Math.max(inst.bytes, c.bytes);
        }
        const per = counts.get(groupKey) ?? new Array<number>(gpus).fill(0);
        per[rank]!++;
        counts.set(groupKey, per);
      } else if (node.kind === 'send' || node.kind === 'recv') {
        const [src, dst] = node.kind === 'send' ? [rank, node.peer!] : [node.peer!, rank];
        if (src === dst) throw new SilicaError(`${where}: peer: expected another rank, got its own (${src})`);
        const base = `${src}>${dst}#${node.tag ?? 0}#${node.kind}`;
        const k = seq.get(base) ?? 0;
        seq.set(base, k + 1);
        key[i] = `${src}>${dst}#${node.tag ?? 0}#${k}`;
        p2pCount.set(key[i]!, (p2pCount.get(key[i]!) ?? 0) + (node.kind === 'send' ? 1 : 2));
        if (node.kind === 'send') messages.set(key[i]!, { src, dst, bytes: node.bytes ?? 0, arrived: false });
      }
    }
  }
  for (const [groupKey, per] of counts) {
    const members = groupKey.split(',').map(Number);
    const n0 = per[members[0]!]!;
    for (const r of members) {
      if (per[r] !== n0) throw new SilicaError(`${whereOf.get(r)}: group [${groupKey}]: rank ${members[0]} runs ${n0} collectives on it but rank ${r} runs ${per[r]} (every member must reach each one)`);
    }
  }
  for (const [k, v] of p2pCount) {
    if (v === 3) continue;
    const [pair, tag] = k.split('#');
    const [src, dst] = pair!.split('>');
    // Named after the file holding the node that has no partner: the send's, or the recv's.
    const orphanAt = whereOf.get(Number(v === 1 ? src : dst));
    throw new SilicaError(`${orphanAt}: rank ${src} -> rank ${dst} tag ${tag}: ${v === 1 ? 'a send has no matching recv' : 'a recv has no matching send'} (the k-th send from a to b with a tag matches the k-th recv at b from a with that tag)`);
  }
  return { keys, instances, messages };
}
