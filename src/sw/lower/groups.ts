import type { Trace, TraceMeta, TraceNode } from '../../trace/types.js';

/**
 * Turns one symbolic program into a Trace. With only one kind of parallelism every collective
 * spans all ranks, so one SPMD program serves every rank (group [] = all ranks). With both tensor
 * and data parallelism the communicators differ per rank, so each rank gets its own program whose
 * collectives name their ranks: rank r = dpIndex * tp + tpIndex (tensor-parallel ranks adjacent,
 * inside a node, as Megatron places them).
 */
export function programsFor(nodes: TraceNode[], groupOf: Map<number, 'tp' | 'dp'>, tp: number, dp: number, meta: TraceMeta): Trace {
  const worldSize = tp * dp;
  if (tp === 1 || dp === 1) return { meta, worldSize, programs: [nodes] };
  const programs: TraceNode[][] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    const tpIndex = rank % tp;
    const dpIndex = Math.floor(rank / tp);
    const tpGroup = Array.from({ length: tp }, (_, i) => dpIndex * tp + i);
    const dpGroup = Array.from({ length: dp }, (_, i) => i * tp + tpIndex);
    programs.push(
      nodes.map((n) => {
        const g = groupOf.get(n.id);
        if (!g || !n.collective) return n;
        return { ...n, collective: { ...n.collective, group: g === 'tp' ? tpGroup : dpGroup } };
      }),
    );
  }
  return { meta, worldSize, programs };
}
