import type { Interconnect } from '../link/topology.js';

/**
 * Which rings a ring collective runs over, per topology (as NCCL/RCCL build them from the graph):
 * - fully connected: edge-disjoint directed Hamiltonian cycles, n - 1 of them when they exist
 *   (every n except 4 and 6, Tillson 1980), so all n - 1 links of every GPU carry a ring; this is
 *   how RCCL spreads an 8-GPU MI300X all-reduce over all 7 xGMI links [A3].
 * - ring: the physical ring both ways round (each direction of every link carries one ring).
 * - switch: one ring in rank order (each GPU's port already aggregates all its links).
 * - several nodes: one ring in rank order, crossing the NICs between nodes.
 * Rings are lists of GPU indices; ring r sends from ring[i] to ring[(i + 1) % n].
 */
export function ringsFor(ic: Interconnect, ranks: readonly number[]): number[][] {
  const n = ranks.length;
  if (n <= 1) return [[...ranks]];
  const oneNode = ranks.every((g) => ic.nodeOf(g) === ic.nodeOf(ranks[0]!));
  const topology = ic.config.topology;
  if (oneNode && topology === 'fully-connected') {
    return hamiltonianDecomposition(n).map((cycle) => cycle.map((i) => ranks[i]!));
  }
  if (oneNode && topology === 'ring' && n > 2) {
    // Order the group as it sits on the physical ring, then use both directions.
    const order = [...ranks].sort((a, b) => a - b);
    return [order, [order[0]!, ...order.slice(1).reverse()]];
  }
  return [[...ranks]];
}

const decompositionCache = new Map<number, number[][]>();

/** Largest set of edge-disjoint directed Hamiltonian cycles of the complete digraph on n vertices found. */
export function hamiltonianDecomposition(n: number): number[][] {
  let cached = decompositionCache.get(n);
  if (!cached) {
    cached = searchDecomposition(n);
    decompositionCache.set(n, cached);
  }
  return cached.map((c) => [...c]);
}

/**
 * Depth-first search over cycles, each built from vertex 0 over unused directed edges, with a
 * bounded number of expansions so that sizes without a full decomposition (4, 6) or large n stay
 * cheap; the best partial set found is kept. Deterministic (fixed visiting order).
 */
function searchDecomposition(n: number): number[][] {
  if (n === 2) return [[0, 1]];
  const used = new Uint8Array(n * n);
  const cycles: number[][] = [];
  let best: number[][] = [];
  let budget = 200_000;
  const target = n - 1;

  const extend = (path: number[], visited: Uint8Array): boolean => {
    if (--budget < 0) return false;
    const last = path[path.length - 1]!;
    if (path.length === n) {
      if (used[last * n]) return false;
      used[last * n] = 1;
      cycles.push([...path]);
      if (cycles.length > best.length) best = cycles.map((c) => [...c]);
      if (cycles.length === target || newCycle()) return true;
      cycles.pop();
      used[last * n] = 0;
      return false;
    }
    // Rotate the candidate order with the cycle index so successive cycles prefer different strides.
    const shift = cycles.length + 1;
    for (let d = 0; d < n - 1; d++) {
      const next = (last + 1 + ((d + shift - 1) % (n - 1))) % n;
      if (next === last || visited[next] || used[last * n + next]) continue;
      used[last * n + next] = 1;
      visited[next] = 1;
      path.push(next);
      if (extend(path, visited)) return true;
      path.pop();
      visited[next] = 0;
      used[last * n + next] = 0;
      if (budget < 0) return false;
    }
    return false;
  };
  const newCycle = (): boolean => {
    const visited = new Uint8Array(n);
    visited[0] = 1;
    return extend([0], visited);
  };
  newCycle();
  if (best.length === 0) best = [Array.from({ length: n }, (_, i) => i)];
  return best;
}
