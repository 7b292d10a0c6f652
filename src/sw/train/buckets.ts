/**
 * Data-parallel gradient buckets, as PyTorch DDP forms them: gradients in the order backward
 * finishes them, packed into buckets of at least `bucketBytes` (the last may be smaller); a bucket
 * is all-reduced as soon as all its gradients exist.
 */
export interface GradReady {
  param: string;
  bytes: number;
  /** Node that finishes the gradient (in the micro-batch whose gradients are reduced). */
  nodeId: number;
}

export interface Bucket {
  params: string[];
  bytes: number;
  /** Nodes that produce the bucket's gradients. */
  producers: number[];
}

/** PyTorch DDP's default bucket_cap_mb = 25 (MiB). */
export const DEFAULT_BUCKET_MIB = 25;
export const DEFAULT_BUCKET_BYTES = DEFAULT_BUCKET_MIB * 1024 * 1024;

/** A bucket size given in MiB (DDP's bucket_cap_mb, fractions allowed), in whole bytes. */
export function bucketBytesFromMib(mib: number): number {
  return Math.max(1, Math.round(mib * 1024 * 1024));
}

/**
 * Fills buckets as gradients become ready, in that order, and hands each over as soon as it is
 * full, so that its reduction can be issued there and then (between the layers' own communication,
 * where a stream carries more than the gradients).
 */
export class BucketFiller {
  private cur: Bucket = { params: [], bytes: 0, producers: [] };

  constructor(
    private readonly bucketBytes: number,
    private readonly onFull: (bucket: Bucket) => void,
  ) {}

  add(g: GradReady): void {
    const cur = this.cur;
    cur.params.push(g.param);
    cur.bytes += g.bytes;
    if (!cur.producers.includes(g.nodeId)) cur.producers.push(g.nodeId);
    if (cur.bytes >= this.bucketBytes) this.flush();
  }

  /** Hands over the bucket being filled, if it holds anything (the last, smaller one). */
  flush(): void {
    if (this.cur.params.length) this.onFull(this.cur);
    this.cur = { params: [], bytes: 0, producers: [] };
  }
}
