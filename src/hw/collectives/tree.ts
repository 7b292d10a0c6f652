import { COST, type Plan, type Step, type StepCost } from './plan.js';
import { chunkSizes, type Chunking } from './ring.js';
import type { GpuTree } from './trees.js';

/**
 * NCCL's Tree all-reduce (src/device/all_reduce.h, runTreeSplit) over the trees of trees.ts, each
 * carrying an equal share of the buffer, pipelined in chunks. Per chunk:
 * - reduce up: a leaf sends its block to its parent; an interior GPU waits for its children's
 *   partials and sends their sum with its own block up (recvReduceSend);
 * - the root waits for its children, keeps the sum and sends it to every child (recvReduceCopySend);
 * - broadcast down: an interior GPU keeps what its parent sent and forwards it to every child
 *   (recvCopySend); a leaf copies it to its output (recv).
 * A non-root GPU runs the two halves on two channels (NCCL splits the channel's threads between
 * them), so it reduces a later chunk while an earlier one comes back down. A send to several
 * children is one step that writes each (NCCL's primitives send to all their peers in one loop): it
 * reads its source once and puts the chunk on each child's path.
 */
export interface TreeChunking extends Chunking {
  /** Smallest chunk the tree cuts its share into to deepen the pipeline. */
  minChunkBytes: number;
}

/** Hops from the root to the deepest GPU. */
export function treeDepth(tree: GpuTree): number {
  const depth = new Map<number, number>([[tree.root, 0]]);
  let deepest = 0;
  for (const g of tree.order) {
    for (const c of tree.children.get(g)!) {
      depth.set(c, depth.get(g)! + 1);
      deepest = Math.max(deepest, depth.get(g)! + 1);
    }
  }
  return deepest;
}

/**
 * The chunks of one tree's share. A tree is a pipeline 2 x depth hops long (up, then down), where a
 * ring keeps every link busy from its first step, so its chunks are cut finer: NCCL halves a
 * tree's chunk while a channel has fewer than 8 x its depth of them and the chunk is over 128 KiB
 * (src/enqueue.cc). Here: `maxChunks` x depth chunks where the share allows, none under
 * `minChunkBytes` nor over `chunkBytes` (past max_chunks x depth of those, as many equal ones).
 */
export function treeChunkSizes(shareBytes: number, depth: number, { chunkBytes, maxChunks, minChunkBytes }: TreeChunking): number[] {
  const count = maxChunks * Math.max(1, depth);
  const chunk = Math.min(chunkBytes, Math.max(minChunkBytes, shareBytes / count));
  return chunkSizes(shareBytes, { chunkBytes: chunk, maxChunks: count });
}

export function planTree(plan: Plan, trees: readonly GpuTree[], bytes: number, chunking: TreeChunking): void {
  const share = bytes / trees.length;
  for (const tree of trees) {
    if (tree.order.length === 1) {
      // One rank: the out-of-place copy (ring.ts: planRing).
      plan.add({ gpu: tree.root, channel: plan.newChannel(), from: tree.root, to: tree.root, bytes: share, cost: COST.recv });
      continue;
    }
    const sizes = treeChunkSizes(share, treeDepth(tree), chunking);
    // Per GPU and chunk: the step whose arrival carries its reduced partial up (the root's: the
    // reduced chunk down), and the step whose arrival carries the result down to its children.
    const up = new Map<number, Step[]>();
    const down = new Map<number, Step[]>();
    for (const g of tree.order) {
      const kids = tree.children.get(g)!;
      const parent = tree.parent.get(g);
      const reduceCost: StepCost = kids.length === 0 ? COST.push : { srcRead: kids.length + 1, srcWrite: 0, dstWrite: 1, dstUpdate: 0 };
      if (parent === undefined) {
        const channel = plan.newChannel();
        const steps = sizes.map((c) =>
          plan.add({ gpu: g, channel, from: g, to: kids[0]!, also: kids.slice(1), bytes: c, cost: { srcRead: kids.length + 1, srcWrite: 1, dstWrite: 1, dstUpdate: 0 } }),
        );
        up.set(g, steps);
        down.set(g, steps);
        continue;
      }
      const upChannel = plan.newChannel();
      up.set(g, sizes.map((c) => plan.add({ gpu: g, channel: upChannel, from: g, to: parent, bytes: c, cost: reduceCost })));
      const downChannel = plan.newChannel();
      down.set(
        g,
        sizes.map((c) =>
          kids.length === 0
            ? plan.add({ gpu: g, channel: downChannel, from: g, to: g, bytes: c, cost: COST.recv })
            : plan.add({ gpu: g, channel: downChannel, from: g, to: kids[0]!, also: kids.slice(1), bytes: c, cost: COST.copySend }),
        ),
      );
    }
    for (const g of tree.order) {
      const parent = tree.parent.get(g);
      for (let k = 0; k < sizes.length; k++) {
        for (const kid of tree.children.get(g)!) plan.link(up.get(kid)![k]!, up.get(g)![k]!);
        if (parent !== undefined) plan.link(down.get(parent)![k]!, down.get(g)![k]!);
      }
    }
  }
}
