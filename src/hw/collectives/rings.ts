import type { Interconnect } from '../link/topology.js';

/**
 * Which rings a ring collective runs over, per topology (as NCCL/RCCL build them from the graph):
 * - fully connected: edge-disjoint directed Hamiltonian cycles, n - 1 of them when they exist
 *   (every n except 4 and 6, Tillson 1980), so all n - 1 links of every GPU carry a ring; this is
 *   how RCCL spreads an 8-GPU MI300X all-reduce over all 7 xGMI links [A3].
 * - ring: the physical ring both ways round (each direction of every link carries one ring).
 * - switch: one ring in rank order (each GPU's port already aggregates all its links).
 * - several nodes, at least two ranks on each: rail rings, as NCCL builds them on nodes with
 *   a NIC per GPU. Each ring runs through a node on a path of that node's own rings (a switch:
 *   the rank-order ring started at each of its ranks in turn), leaves it through the NIC of the
 *   path's last GPU and enters the next node through the NIC of the next path's first, and no two
 *   rings leave or enter a node through the same NIC; so the group's collective uses every NIC of
 *   the node, where one ring in rank order crossed through a single NIC per node boundary and ran
 *   at one NIC's rate (H100, 2 nodes of 8: 46.9 GB/s of bus bandwidth on 50 GB/s NICs). With
 *   unequal counts the group runs as many rings as its poorest node has.
 * - otherwise (one rank on some node: data parallelism over tensor-parallel groups, each group
 *   crossing through its own GPUs' NICs): one ring in rank order.
 * Rings are lists of GPU indices; ring r sends from ring[i] to ring[(i + 1) % n].
 */
export function ringsFor(ic: Interconnect, ranks: readonly number[]): number[][] {
  const n = ranks.length;
  if (n <= 1) return [[...ranks]];
  const oneNode = ranks.every((g) => ic.nodeOf(g) === ic.nodeOf(ranks[0]!));
  if (oneNode) return nodeRings(ic, ranks);
  return railRings(ic, ranks) ?? [[...ranks]];
}

/** The rings of a group inside one node. */
function nodeRings(ic: Interconnect, ranks: readonly number[]): number[][] {
  const n = ranks.length;
  const topology = ic.config.topology;
  if (topology === 'fully-connected' && n > 1) {
    return hamiltonianDecomposition(n).map((cycle) => cycle.map((i) => ranks[i]!));
  }
  if (topology === 'ring' && n > 2) {
    // Order the group as it sits on the physical ring, then use both directions.
    const order = [...ranks].sort((a, b) => a - b);
    return [order, [order[0]!, ...order.slice(1).reverse()]];
  }
  return [[...ranks]];
}

/** The group's ranks by node: nodes ascending, each node's ranks ascending. */
function ranksByNode(ic: Interconnect, ranks: readonly number[]): number[][] {
  const byNode = new Map<number, number[]>();
  for (const g of ranks) {
    const node = ic.nodeOf(g);
    if (!byNode.has(node)) byNode.set(node, []);
    byNode.get(node)!.push(g);
  }
  return [...byNode.keys()].sort((a, b) => a - b).map((node) => byNode.get(node)!.sort((a, b) => a - b));
}

/**
 * Rail rings over several nodes with at least 2 of the group's ranks each, or undefined when some
 * node has just one. Each node's rings (over its own ranks) are cut, each at one of its edges
 * u -> v, into paths from v to u, the cut edges chosen with distinct u (the NIC a ring leaves by)
 * and distinct v (the NIC it enters by); a switch's one ring is used m times, cut at each of its m
 * edges. Ring r then visits path r of every node in node order. Nodes with different counts have
 * different numbers of paths, and the group runs as many rings as its poorest node has, as NCCL
 * takes the fewest channels any rank found (init.cc: the min of nChannels over the allgathered
 * graph info); until session 38 unequal counts (8 + 4 ranks: `silica bert --dp 12`) fell back to
 * one ring in rank order through one NIC per node boundary.
 */
function railRings(ic: Interconnect, ranks: readonly number[]): number[][] | undefined {
  const nodes = ranksByNode(ic, ranks);
  if (nodes.some((local) => local.length < 2)) return undefined;
  const paths = nodes.map((local) => nodePaths(ic, local));
  const rings = Math.min(...paths.map((p) => p.length));
  return Array.from({ length: rings }, (_, r) => paths.flatMap((nodePathList) => nodePathList[r]!));
}

/**
 * The group's ranks by node, nodes ascending, each node's ranks ascending, and each node's paths
 * (its rings cut as the rail rings cut them: distinct first and distinct last GPUs). NCCL's tree
 * runs a chain through each node on such a path, one per channel, entering and leaving the node at
 * the path's first GPU (trees.ts).
 */
export function nodePathsOf(ic: Interconnect, ranks: readonly number[]): number[][][] {
  return ranksByNode(ic, ranks).map((local) => (local.length === 1 ? [[local[0]!]] : nodePaths(ic, local)));
}

/**
 * One node's rings cut into paths with distinct first and last GPUs (railRings), as GPU indices.
 * Two ranks have one ring (a -> b -> a, both directions of their link), but a path keeps one
 * edge of it, so the paths a -> b and b -> a share no link whatever the topology: two rings, as a
 * switch's. Cutting the one ring left the pair's other NIC idle (MI300X, a data-parallel group of
 * 2 ranks per node over tensor-parallel groups of 4: 44.9 GB/s of bus bandwidth where an H100 ran
 * 93.5).
 */
function nodePaths(ic: Interconnect, local: readonly number[]): number[][] {
  const m = local.length;
  const localCycles =
    ic.config.topology === 'switch' || m === 2
      ? Array.from({ length: m }, () => Array.from({ length: m }, (_, i) => i))
      : nodeRings(ic, local).map((ring) => ring.map((g) => local.indexOf(g)));
  const cuts = distinctCuts(localCycles);
  return localCycles.map((cycle, c) => {
    const e = cuts[c]!;
    return [...cycle.slice(e + 1), ...cycle.slice(0, e + 1)].map((i) => local[i]!);
  });
}

/**
 * For each cycle the index e of the edge cycle[e] -> cycle[e + 1] to cut, such that no two cut
 * edges share a tail or a head (a system of distinct representatives, by depth-first search);
 * where none exists, every cycle is cut at its last edge.
 */
function distinctCuts(cycles: readonly number[][]): number[] {
  const tails = new Set<number>();
  const heads = new Set<number>();
  const cuts: number[] = [];
  const place = (c: number): boolean => {
    if (c === cycles.length) return true;
    const cycle = cycles[c]!;
    // Start the search at edge c - 1, so identical cycles (a switch's) are cut at successive edges
    // at once: ring c then starts at local rank c.
    for (let k = 0; k < cycle.length; k++) {
      const e = (c - 1 + k + cycle.length) % cycle.length;
      const tail = cycle[e]!;
      const head = cycle[(e + 1) % cycle.length]!;
      if (tails.has(tail) || heads.has(head)) continue;
      tails.add(tail);
      heads.add(head);
      cuts.push(e);
      if (place(c + 1)) return true;
      cuts.pop();
      tails.delete(tail);
      heads.delete(head);
    }
    return false;
  };
  if (place(0)) return cuts;
  return cycles.map((cycle) => cycle.length - 1);
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
