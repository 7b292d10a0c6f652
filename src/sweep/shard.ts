import { SilicaError } from '../core/errors.js';
import type { SweepPoint } from './spec.js';

/**
 * Shards of a sweep, in a module of their own: `silica sweep` reads --shard before it loads the
 * simulator (src/cli/commands/sweep.ts).
 */

/** `--shard i/N`: 0-based shard i of N takes points whose index is i modulo N (balanced across axes). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new SilicaError(`--shard: expected i/N with 0 <= i < N (e.g. 0/4, as SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX count), got "${text}"`);
  }
  return { index, count };
}

export function shardPoints(points: readonly SweepPoint[], shard?: { index: number; count: number }): SweepPoint[] {
  return shard ? points.filter((p) => p.index % shard.count === shard.index) : [...points];
}
