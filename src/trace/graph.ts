import { SilicaError } from '../core/errors.js';
import { firstRepeat } from '../core/repeats.js';
import { programWhere, type Trace, type TraceNode } from './types.js';

/**
 * Dependency graph of one program, in index space (positions in the program array), built once
 * and shared by validation, inspect and replay.
 *
 * `order` is a topological order that is stable: among nodes whose dependencies are all earlier,
 * the one earliest in program order comes first. For a program already in dependency order it is
 * the identity; for a Chakra ET with forward dependencies it is the order a stream can issue in
 * without waiting on a node queued behind it.
 */
export interface ProgramGraph {
  /** Topological order of node indices. */
  order: Int32Array;
  /** Dependencies of node i: depList[depStart[i] .. depStart[i+1]), deduplicated. */
  depStart: Int32Array;
  depList: Int32Array;
  /** Dependents of node i: userList[userStart[i] .. userStart[i+1]). */
  userStart: Int32Array;
  userList: Int32Array;
  /** Index of a node id. */
  indexOf: Map<number, number>;
}

const cache = new WeakMap<TraceNode[], ProgramGraph>();

/**
 * Builds (and memoises) the graph of a program. Errors name the trace, program, node and field:
 * duplicate ids, a dependency on an id absent from the program, a cycle.
 */
export function programGraph(program: TraceNode[], where: string): ProgramGraph {
  const cached = cache.get(program);
  if (cached) return cached;
  const n = program.length;
  const indexOf = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = program[i]!.id;
    const prev = indexOf.get(id);
    if (prev !== undefined) throw new SilicaError(`${where}: node id ${id} appears twice (nodes #${prev} "${program[prev]!.name}" and #${i} "${program[i]!.name}"); ids must be unique within a program`);
    indexOf.set(id, i);
  }
  const depStart = new Int32Array(n + 1);
  const deps: number[] = [];
  const indegree = new Int32Array(n);
  const userCount = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    depStart[i] = deps.length;
    const node = program[i]!;
    const first = deps.length;
    for (const id of node.deps) {
      const j = indexOf.get(id);
      if (j === undefined) throw new SilicaError(`${where}: node ${node.id} "${node.name}": deps: names node ${id}, which is not in the trace (expected the id of a node of the same program)`);
      let dup = false;
      for (let k = first; k < deps.length; k++) if (deps[k] === j) dup = true;
      if (dup) continue;
      deps.push(j);
      indegree[i]!++;
      userCount[j]!++;
    }
  }
  depStart[n] = deps.length;
  const depList = Int32Array.from(deps);
  const userStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) userStart[i + 1] = userStart[i]! + userCount[i]!;
  const fill = userStart.slice(0, n);
  const userList = new Int32Array(depList.length);
  for (let i = 0; i < n; i++) for (let k = depStart[i]!; k < depStart[i + 1]!; k++) userList[fill[depList[k]!]!++] = i;

  const order = stableTopoOrder(n, indegree, userStart, userList);
  if (order.length < n) throw new SilicaError(`${where}: dependency cycle: ${describeCycle(program, order, depStart, depList)}`);
  const graph: ProgramGraph = { order, depStart, depList, userStart, userList, indexOf };
  cache.set(program, graph);
  return graph;
}

/** Kahn's algorithm with a min-heap on the program index. Returns fewer than n nodes on a cycle. */
function stableTopoOrder(n: number, indegreeIn: Int32Array, userStart: Int32Array, userList: Int32Array): Int32Array {
  const indegree = indegreeIn.slice();
  const heap = new Int32Array(n);
  let size = 0;
  const push = (v: number) => {
    let i = size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= v) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = v;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap[--size]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && heap[c + 1]! < heap[c]!) c++;
      if (heap[c]! >= last) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
    return top;
  };
  for (let i = 0; i < n; i++) if (indegree[i] === 0) push(i);
  const order = new Int32Array(n);
  let count = 0;
  while (size > 0) {
    const v = pop();
    order[count++] = v;
    for (let k = userStart[v]!; k < userStart[v + 1]!; k++) {
      const u = userList[k]!;
      if (--indegree[u]! === 0) push(u);
    }
  }
  return order.subarray(0, count);
}

/** Walks dependencies among the nodes Kahn could not order until one repeats: that loop is a cycle. */
function describeCycle(program: TraceNode[], ordered: Int32Array, depStart: Int32Array, depList: Int32Array): string {
  const done = new Uint8Array(program.length);
  for (const i of ordered) done[i] = 1;
  let v = done.indexOf(0);
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  while (!seenAt.has(v)) {
    seenAt.set(v, path.length);
    path.push(v);
    let next = -1;
    for (let k = depStart[v]!; k < depStart[v + 1]!; k++) if (!done[depList[k]!]) next = depList[k]!;
    v = next;
  }
  const loop = path.slice(seenAt.get(v)!).reverse();
  loop.push(loop[0]!);
  const shown = loop.length > 7 ? [...loop.slice(0, 3), -1, ...loop.slice(-3)] : loop;
  return shown.map((i) => (i < 0 ? '...' : `${program[i]!.id} "${program[i]!.name}"`)).join(' -> ') + ' (each needs the next to finish first)';
}

/** Validates every program of a trace (ids, dependencies, acyclicity) and the rank fields. */
export function validateTrace(trace: Trace, file: string): void {
  if (!Number.isInteger(trace.worldSize) || trace.worldSize < 1) throw new SilicaError(`${file}: world_size: expected a positive whole number, got ${trace.worldSize}`);
  if (trace.programs.length !== 1 && trace.programs.length !== trace.worldSize) {
    throw new SilicaError(`${file}: programs: expected 1 (SPMD) or world_size = ${trace.worldSize}, got ${trace.programs.length}`);
  }
  trace.programs.forEach((program, p) => {
    const where = programWhere(trace, p, file);
    programGraph(program, where);
    for (const node of program) {
      const ranks = node.collective?.group ?? [];
      for (const r of ranks) {
        if (!Number.isInteger(r) || r < 0 || r >= trace.worldSize) throw new SilicaError(`${where}: node ${node.id} "${node.name}": collective.group: rank ${r} is outside 0..${trace.worldSize - 1}`);
      }
      // A rank listed twice would wait for itself: the replay could only deadlock.
      const twice = firstRepeat(ranks);
      if (twice) throw new SilicaError(`${where}: node ${node.id} "${node.name}": collective.group: expected distinct ranks, got rank ${ranks[twice.again]} twice (${ranks.join(',')})`);
      if ((node.kind === 'send' || node.kind === 'recv') && (node.peer === undefined || node.peer < 0 || node.peer >= trace.worldSize)) {
        throw new SilicaError(`${where}: node ${node.id} "${node.name}": peer: expected a rank in 0..${trace.worldSize - 1}, got ${node.peer}`);
      }
    }
  });
}
