import { programOf, type Trace, type TraceNode } from '../trace/types.js';
import { matmulFlops } from './lower/kernels.js';

/**
 * Hardware-independent summaries of a trace: kernel counts and matrix FLOPs (GEMMs and attention
 * products) per pass and category, and collective bytes. What the analytic tests count.
 */
export interface TraceSummary {
  nodes: number;
  kernels: number;
  collectives: number;
  collectiveBytes: number;
  matmulFlops: number;
  /** Matrix FLOPs keyed "pass/category" (e.g. "bwd/gemm"). */
  matmulFlopsBy: Record<string, number>;
}

export function summariseProgram(nodes: readonly TraceNode[]): TraceSummary {
  const s: TraceSummary = { nodes: nodes.length, kernels: 0, collectives: 0, collectiveBytes: 0, matmulFlops: 0, matmulFlopsBy: {} };
  for (const n of nodes) {
    if (n.kind === 'kernel' && n.kernel) {
      s.kernels++;
      const f = matmulFlops(n.kernel);
      if (f > 0) {
        s.matmulFlops += f;
        const key = `${n.pass}/${n.category}`;
        s.matmulFlopsBy[key] = (s.matmulFlopsBy[key] ?? 0) + f;
      }
    } else if (n.kind === 'collective' && n.collective) {
      s.collectives++;
      s.collectiveBytes += n.collective.bytes;
    }
  }
  return s;
}

/** Summary of one rank's program (rank 0 by default). */
export function summariseTrace(trace: Trace, rank = 0): TraceSummary {
  return summariseProgram(programOf(trace, rank));
}

/** Matrix FLOPs of one pass (fwd | bwd | opt), optionally restricted to some categories. */
export function passMatmulFlops(s: TraceSummary, pass: string, categories?: string[]): number {
  let total = 0;
  for (const [key, v] of Object.entries(s.matmulFlopsBy)) {
    const [p, c] = key.split('/');
    if (p === pass && (!categories || categories.includes(c!))) total += v;
  }
  return total;
}
