import { COMM_STREAM, type ProgramEmitter } from '../lower/emit.js';
import type { LoweredNode } from '../lower/kernels.js';
import { BucketFiller, type Bucket } from './buckets.js';

export interface GradientReductionOptions {
  /** all-reduce (data parallelism) or reduce-scatter (ZeRO: each rank keeps its shard). */
  kind: 'all-reduce' | 'reduce-scatter';
  bucketBytes: number;
  /** Reduce each bucket as soon as it is full (DDP's overlap), or all after the backward. */
  overlap: boolean;
  /** Bytes of one gradient element. */
  gradBytes: number;
  /** Every parameter, in the model's order, with its elements. */
  params: ReadonlyArray<{ name: string; numel: number }>;
  /** One backward pass's kernels, op by op: which write which gradients. */
  backward: ReadonlyArray<readonly LoweredNode[]>;
}

/**
 * The data-parallel gradient reduction of a backward pass, as PyTorch DDP and DeepSpeed run it:
 * gradients join a bucket as they complete (after the last kernel that writes them), and a full
 * bucket is reduced on the communication stream at once, so its place in that stream is where the
 * backward reached (between ZeRO-3's weight gathers rather than after all of them).
 */
export class GradientReduction {
  /** Every reduction issued, for the optimizer to wait on. */
  readonly issuedIds: number[] = [];
  private issued: Array<{ bucket: Bucket; id: number }> = [];
  private filler: BucketFiller | undefined;
  private writesLeft = new Map<string, number>();
  private suffix = '';
  private readonly numel: ReadonlyMap<string, number>;
  /** How many kernels of a backward pass write each parameter's gradient (a weight and its bias may be two). */
  private readonly writesPerParam = new Map<string, number>();

  constructor(
    private readonly e: ProgramEmitter,
    private readonly o: GradientReductionOptions,
  ) {
    this.numel = new Map(o.params.map((p) => [p.name, p.numel]));
    for (const nodes of o.backward) for (const n of nodes) for (const { param } of n.grads ?? []) this.writesPerParam.set(param, (this.writesPerParam.get(param) ?? 0) + 1);
  }

  /** A backward pass whose gradients are reduced begins (`suffix` names its nodes, e.g. `.mb2`). */
  begin(suffix: string): void {
    this.suffix = suffix;
    this.issued = [];
    this.writesLeft = new Map(this.writesPerParam);
    this.filler = new BucketFiller(this.o.bucketBytes, (bucket) => this.issued.push({ bucket, id: this.o.overlap ? this.reduce(bucket, bucket.producers) : -1 }));
  }

  /** A kernel wrote its part of `param`'s gradient; `doneId` is the node after which that part is in place. */
  written(param: string, doneId: number): void {
    if (!this.filler) return;
    const left = this.writesLeft.get(param)! - 1;
    this.writesLeft.set(param, left);
    if (left === 0) this.filler.add({ param, bytes: this.numel.get(param)! * this.o.gradBytes, nodeId: doneId });
  }

  /**
   * The backward pass ended with node `afterBackward`: the last bucket is reduced, and without
   * overlap every bucket now. Returns the pass's buckets and their reductions, in order.
   */
  end(afterBackward: number): ReadonlyArray<{ bucket: Bucket; id: number }> {
    const filler = this.filler!;
    // Parameters no kernel wrote (none in the zoo's models) count as ready at the end.
    for (const p of this.o.params) if (!this.writesPerParam.has(p.name)) filler.add({ param: p.name, bytes: p.numel * this.o.gradBytes, nodeId: afterBackward });
    filler.flush();
    this.filler = undefined;
    if (!this.o.overlap) this.issued.forEach((x, i) => (x.id = this.reduce(x.bucket, [afterBackward], i)));
    return this.issued;
  }

  private reduce(bucket: Bucket, deps: number[], index = this.issued.length): number {
    const suffix = this.o.kind === 'all-reduce' ? 'all_reduce' : 'reduce_scatter';
    const node: LoweredNode = { name: `grads.bucket${index}.${suffix}`, kind: 'collective', category: 'communication', collective: { kind: this.o.kind, bytes: bucket.bytes, group: 'dp' } };
    const id = this.e.emit(node, 'bwd', -1, { stream: COMM_STREAM, deps, suffix: this.suffix });
    this.issuedIds.push(id);
    return id;
  }
}
