import type { CollectiveKind } from '../hw/collectives/index.js';
import type { TraceCollectiveKind } from './types.js';

/**
 * How each trace collective is costed by the collectives model (src/hw/collectives), which runs
 * all-reduce, reduce-scatter, all-gather, all-to-all, broadcast and send-recv. Chakra's other
 * CollectiveCommTypes go to the algorithm with the same traffic on the busiest link:
 * - reduce: a pipelined chain towards the root, the mirror image of broadcast's chain;
 * - scatter: the root pushes every other rank's share, bounded by broadcast's chain;
 * - gather: every rank's share reaches the root, as all-gather's ring moves it;
 * - reduce-scatter-block: reduce-scatter with equal blocks, which is what reduce-scatter models;
 * - barrier: a zero-byte all-reduce (latency only).
 */
export const COSTED_AS: Record<TraceCollectiveKind, CollectiveKind> = {
  'all-reduce': 'all-reduce',
  'reduce-scatter': 'reduce-scatter',
  'all-gather': 'all-gather',
  'all-to-all': 'all-to-all',
  broadcast: 'broadcast',
  reduce: 'broadcast',
  scatter: 'broadcast',
  gather: 'all-gather',
  'reduce-scatter-block': 'reduce-scatter',
  barrier: 'all-reduce',
};

export function collectiveBytes(kind: TraceCollectiveKind, bytes: number): number {
  return kind === 'barrier' ? 0 : bytes;
}
