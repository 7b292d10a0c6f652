import type { Pass } from '../../kernels/types.js';
import { COMM_STREAM, type ProgramEmitter } from '../lower/emit.js';
import type { LoweredNode } from '../lower/kernels.js';

/**
 * ZeRO stage 3 (DeepSpeed; PyTorch FSDP's full sharding): a rank holds 1/dp of every layer's
 * weights and all-gathers a layer's whole weights, in the dtype its kernels read, just before the
 * layer runs, in forward and again in backward, since they are dropped after use. The gathers run on
 * the communication stream one layer ahead: entering a layer starts the next layer's gather, so at
 * most two layers' weights are whole at once (FSDP's default prefetch; DeepSpeed's prefetch bucket
 * is similar), and a layer waits only for what its predecessor's compute did not hide. They share
 * the communication stream with the gradients' reduce-scatters, in the order the backward issues
 * both: FSDP runs them on two streams, but over the same links, and this study does not share a
 * link between two collectives at once (serialising them keeps the wire's time honest).
 */
export class LayerGathers {
  private order: readonly number[] = [];
  private readonly orders: Record<'fwd' | 'bwd', readonly number[]>;
  private at = -1;
  private readonly gathers = new Map<number, number>();
  private pass: Pass = 'fwd';
  private suffix = '';

  /**
   * `bytesOf`: each layer's whole weights in the compute dtype (layer -1 the embeddings, `layers`
   * the head); `runs`: the layer of each op that emits kernels, in forward and in backward order.
   */
  constructor(
    private readonly e: ProgramEmitter,
    private readonly bytesOf: ReadonlyMap<number, number>,
    private readonly layers: number,
    runs: Record<'fwd' | 'bwd', readonly number[]>,
  ) {
    this.orders = { fwd: layerOrder(runs.fwd), bwd: layerOrder(runs.bwd) };
  }

  /** A pass begins: forward runs the layers in order, backward in reverse. */
  begin(pass: 'fwd' | 'bwd', suffix: string): void {
    this.order = this.orders[pass];
    this.at = -1;
    this.gathers.clear();
    this.pass = pass;
    this.suffix = suffix;
  }

  /** Emits a compute node of `layer`: the layer's first waits for its gather and starts the next one's. */
  emit(n: LoweredNode, layer: number, suffix: string): number {
    const entering = this.order[this.at] !== layer;
    if (entering) this.at = this.order.indexOf(layer, this.at + 1);
    const gather = entering ? (this.gathers.get(layer) ?? this.gather(layer, [])) : undefined;
    const id = this.e.emit(n, this.pass, layer, { suffix, ...(gather === undefined ? {} : { deps: [gather] }) });
    const next = this.order[this.at + 1];
    if (entering && next !== undefined && !this.gathers.has(next)) this.gathers.set(next, this.gather(next, [id]));
    return id;
  }

  private gather(layer: number, deps: number[]): number {
    const name = `weights.${layer < 0 ? 'embed' : layer >= this.layers ? 'head' : `l${layer}`}.${this.pass}_all_gather`;
    const node: LoweredNode = { name, kind: 'collective', category: 'communication', collective: { kind: 'all-gather', bytes: this.bytesOf.get(layer) ?? 0, group: 'dp' } };
    const id = this.e.emit(node, this.pass, layer, { stream: COMM_STREAM, deps, suffix: this.suffix });
    this.gathers.set(layer, id);
    return id;
  }
}

/** The distinct layers of `layers` in the order they first come (a pass's layer order). */
function layerOrder(layers: Iterable<number>): number[] {
  const order: number[] = [];
  for (const l of layers) if (order[order.length - 1] !== l) order.push(l);
  return order;
}
