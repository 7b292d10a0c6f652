import type { Pass } from '../../kernels/types.js';
import type { TraceNode } from '../../trace/types.js';
import type { LoweredNode } from './kernels.js';

/** Streams silica's builders use: kernels and blocking (tensor-parallel) collectives in order on
 * `compute`; data-parallel gradient all-reduces (and ZeRO-3's weight gathers) on `comm`, free to
 * overlap with compute. */
export const COMPUTE_STREAM = 'compute';
export const COMM_STREAM = 'comm';

/**
 * Appends lowered nodes to one rank's program. Compute-stream nodes form a chain (each depends on
 * the previous one, which is also the data dependence of a transformer's forward and backward);
 * comm-stream nodes depend on exactly the nodes given. Collective groups are recorded symbolically
 * ('tp' | 'dp') and resolved to rank lists once the world is known (see ./groups.ts).
 */
export class ProgramEmitter {
  readonly nodes: TraceNode[] = [];
  /** Symbolic communicator of each collective node, by id. */
  readonly groupOf = new Map<number, 'tp' | 'dp'>();
  private last = -1;

  get lastComputeId(): number {
    return this.last;
  }

  emit(n: LoweredNode, pass: Pass, layer: number, opts: { suffix?: string; stream?: string; deps?: number[] } = {}): number {
    const id = this.nodes.length;
    const stream = opts.stream ?? COMPUTE_STREAM;
    const deps = stream === COMPUTE_STREAM ? [...(this.last >= 0 ? [this.last] : []), ...(opts.deps ?? [])] : [...(opts.deps ?? [])];
    const node: TraceNode = {
      id,
      name: opts.suffix ? `${n.name}${opts.suffix}` : n.name,
      kind: n.kind,
      category: n.category,
      pass,
      deps: [...new Set(deps)].sort((a, b) => a - b),
      stream,
      layer,
    };
    if (n.kernel) node.kernel = n.kernel;
    if (n.collective) {
      node.collective = { kind: n.collective.kind, bytes: n.collective.bytes, group: [] };
      this.groupOf.set(id, n.collective.group);
    }
    this.nodes.push(node);
    if (stream === COMPUTE_STREAM) this.last = id;
    return id;
  }
}
