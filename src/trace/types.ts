import type { KernelDesc } from '../kernels/desc.js';
import type { OpCategory, Pass } from '../kernels/types.js';

/**
 * The in-memory kernel trace: what lowering produces, what silica.proto serialises, what replay
 * consumes, and what Chakra ETs are converted to and from. Hardware-independent: kernels are
 * descriptions (shapes), costed on the part at replay.
 */
export type TraceCollectiveKind =
  | 'all-reduce'
  | 'reduce-scatter'
  | 'all-gather'
  | 'all-to-all'
  | 'broadcast'
  // Chakra's other CollectiveCommTypes, so an imported ET keeps what it said (costed by the nearest
  // algorithm the collectives model has; see src/trace/comm.ts).
  | 'reduce'
  | 'gather'
  | 'scatter'
  | 'barrier'
  | 'reduce-scatter-block';

export interface TraceNode {
  /** Unique within its program. */
  id: number;
  name: string;
  kind: 'kernel' | 'collective' | 'send' | 'recv' | 'delay';
  category: OpCategory;
  pass: Pass;
  /** Nodes (same program) that must finish before this one starts. */
  deps: number[];
  /** Stream the node is issued on: nodes of one stream run in order, streams co-run. */
  stream: string;
  /** Transformer layer index, when known (-1 otherwise), for per-layer reports. */
  layer?: number;
  kernel?: KernelDesc;
  collective?: {
    kind: TraceCollectiveKind;
    /** Per-rank buffer size in bytes (nccl-tests "size"). */
    bytes: number;
    /** Ranks of the communicator; empty = all ranks of the trace. */
    group: number[];
  };
  /** Point-to-point partner (send: destination, recv: source) and message size. */
  peer?: number;
  bytes?: number;
  tag?: number;
  /** Fixed duration (Chakra duration_micros replay, host delays). */
  durationNs?: number;
  /**
   * Where the node runs (default 'gpu'). Host nodes (CPU ops of an imported PyTorch trace) hold
   * their stream for their duration but use no GPU resource.
   */
  device?: 'gpu' | 'host';
}

export interface TraceMeta {
  /** Free-form description of what produced the trace (model, phase, batch, ...). */
  [key: string]: string | number | boolean;
}

export interface Trace {
  meta: TraceMeta;
  /** Number of ranks (GPUs) the trace runs on. */
  worldSize: number;
  /**
   * Either one program that every rank runs (SPMD, as silica emits for TP/DP), or one program
   * per rank (Chakra imports).
   */
  programs: TraceNode[][];
}

export function programOf(trace: Trace, rank: number): TraceNode[] {
  return trace.programs.length === 1 ? trace.programs[0]! : trace.programs[rank]!;
}

/**
 * The file a program was read from (a silica trace, with the rank when it holds one program per
 * rank, or one rank's Chakra ET), for errors about
 * its nodes found after loading (costing a kernel at replay or inspect). Programs built in memory
 * have none.
 */
const programSources = new WeakMap<TraceNode[], string>();

export function setProgramSource(program: TraceNode[], file: string): void {
  programSources.set(program, file);
}

/** What errors about rank `rank`'s nodes name: the file its program was read from, else `unread` (`unread: rank r`). */
export function programWhere(trace: Trace, rank: number, unread = 'trace'): string {
  return programSources.get(programOf(trace, rank)) ?? (trace.programs.length === 1 ? unread : `${unread}: rank ${rank}`);
}

/**
 * What errors about rank `rank` itself name (its collectives, sends and receives): its program's
 * file, with the rank when every rank runs that one program (SPMD), since the file alone does not
 * say which rank it was.
 */
export function rankWhere(trace: Trace, rank: number): string {
  const where = programWhere(trace, rank);
  return trace.programs.length === 1 ? `${where}: rank ${rank}` : where;
}
