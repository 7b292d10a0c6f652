/**
 * Data-parallel gradient buckets, as PyTorch DDP forms them: gradients in the order backward
 * finishes them, packed into buckets of at least `bucketBytes` (the last may be smaller); a bucket
 * is all-reduced as soon as all its gradients exist.
 */
export interface GradReady {
  param: string;
  bytes: number;
  /** Node that finishes the gradient (in the last micro-batch). */
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

export function gradientBuckets(ready: GradReady[], bucketBytes: number): Bucket[] {
  const sorted = [...ready].sort((a, b) => a.nodeId - b.nodeId);
  const buckets: Bucket[] = [];
  let cur: Bucket = { params: [], bytes: 0, producers: [] };
  for (const g of sorted) {
    cur.params.push(g.param);
    cur.bytes += g.bytes;
    if (!cur.producers.includes(g.nodeId)) cur.producers.push(g.nodeId);
    if (cur.bytes >= bucketBytes) {
      buckets.push(cur);
      cur = { params: [], bytes: 0, producers: [] };
    }
  }
  if (cur.params.length) buckets.push(cur);
  return buckets;
}
