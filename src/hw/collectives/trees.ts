import type { Interconnect } from '../link/topology.js';
import { nodePathsOf } from './rings.js';

/**
 * The trees of NCCL's Tree all-reduce over a group across nodes (NCCL 2.4+, src/graph/trees.cc and
 * connect.cc): within a node a chain, across nodes a double binary tree of the nodes.
 *
 * - Across nodes, two complementary binary trees (Sanders, Speck and Träff's two-tree algorithm as
 *   NCCL builds it): the first a binary tree rooted at node 0; the second its mirror (node i as
 *   N - 1 - i) for an even count of nodes, or the first shifted by one node for an odd count. A
 *   node is then a leaf in one tree where it is interior in the other, so the nodes share the
 *   inter-node traffic evenly. Each tree carries half of the buffer.
 * - Within a node the ranks form a chain; its first GPU (the node's head for that channel) is the
 *   one that talks to the parent and child nodes, through its own NIC (NCCL's TREE pattern: all of
 *   a channel's NIC traffic on one GPU). The chain runs on a path of the node's rings (rings.ts:
 *   nodePathsOf), so channel c's chain starts at a different GPU on each path and the channels
 *   cross through distinct NICs, as the rail rings do; the group runs as many channels as its
 *   poorest node has paths. The two trees of a channel share its chains and NICs (NCCL's channels
 *   c and c + nChannels share the channel's intra-node order); the double tree balances the two
 *   directions of each NIC.
 * Each (channel, tree) is one tree over GPUs: `parent` per GPU (none at the root) and `children`
 * (at most three: the next GPU of the chain and two child nodes' heads, NCCL's tree arity).
 */
export interface GpuTree {
  /** Which of the double tree's two trees (0 or 1). */
  tree: 0 | 1;
  channel: number;
  root: number;
  parent: Map<number, number>;
  children: Map<number, number[]>;
  /** The GPUs, parents before children (breadth first from the root). */
  order: number[];
}

/** ncclGetBtree: parent and children of `rank` in NCCL's binary tree over 0..n-1 rooted at 0 (-1: none). */
export function btree(n: number, rank: number): { up: number; down: number[] } {
  let bit = 1;
  while (bit < n && !(bit & rank)) bit <<= 1;
  if (rank === 0) return { up: -1, down: n > 1 ? [bit >> 1] : [] };
  let up = (rank ^ bit) | (bit << 1);
  if (up >= n) up = rank ^ bit;
  const down: number[] = [];
  let lowbit = bit >> 1;
  if (lowbit > 0) {
    down.push(rank - lowbit);
    // The second child: the largest rank + lowbit / 2^j within bounds.
    while (lowbit > 0 && rank + lowbit >= n) lowbit >>= 1;
    if (lowbit > 0) down.push(rank + lowbit);
  }
  return { up, down };
}

/** ncclGetDtree: tree 1 is the mirror of tree 0 for an even count, tree 0 shifted by one for an odd one. */
export function dtree(n: number, rank: number, tree: 0 | 1): { up: number; down: number[] } {
  if (tree === 0) return btree(n, rank);
  const map = (r: number) => (n % 2 === 1 ? (r + 1) % n : n - 1 - r);
  const from = n % 2 === 1 ? (rank - 1 + n) % n : n - 1 - rank;
  const t = btree(n, from);
  return { up: t.up === -1 ? -1 : map(t.up), down: t.down.map(map) };
}

/** The group's trees: two per channel, channels as many as the poorest node has paths. */
export function treesFor(ic: Interconnect, ranks: readonly number[]): GpuTree[] {
  const paths = nodePathsOf(ic, ranks);
  const nodes = paths.length;
  const channels = Math.min(...paths.map((p) => p.length));
  const trees: GpuTree[] = [];
  for (let c = 0; c < channels; c++) {
    for (const tree of [0, 1] as const) {
      const parent = new Map<number, number>();
      const children = new Map<number, number[]>();
      const chainOf = (node: number) => paths[node]![c]!;
      for (let node = 0; node < nodes; node++) {
        const chain = chainOf(node);
        chain.forEach((g, i) => {
          const kids: number[] = [];
          if (i + 1 < chain.length) kids.push(chain[i + 1]!);
          if (i > 0) parent.set(g, chain[i - 1]!);
          else {
            const { up, down } = dtree(nodes, node, tree);
            if (up >= 0) parent.set(g, chainOf(up)[0]!);
            for (const d of down) kids.push(chainOf(d)[0]!);
          }
          children.set(g, kids);
        });
      }
      let root = -1;
      for (const g of children.keys()) if (!parent.has(g)) root = g;
      const order = [root];
      for (let i = 0; i < order.length; i++) order.push(...children.get(order[i]!)!);
      trees.push({ tree, channel: c, root, parent, children, order });
    }
  }
  return trees;
}
