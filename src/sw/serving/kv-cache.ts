import { invariant } from '../../core/errors.js';

/**
 * A paged KV cache (vLLM's block manager): GPU memory left after the weights is cut into blocks of
 * `blockTokens` tokens; a sequence holds ceil(tokens / blockTokens) blocks. Only block counts
 * matter to the timing model, so blocks are counted, not named; `owner` bookkeeping keeps the
 * conservation check honest (every block is free or held by exactly one live sequence).
 */
export class KvBlockManager {
  private free: number;
  private held = new Map<number, number>();
  /** Integral of used blocks over time (block-ns), for the time-averaged utilisation. */
  private usedIntegral = 0;
  private lastNs = 0;
  peakUsed = 0;

  constructor(
    readonly totalBlocks: number,
    readonly blockTokens: number,
  ) {
    invariant(Number.isInteger(totalBlocks) && totalBlocks >= 0, `KV blocks must be a whole number, got ${totalBlocks}`);
    this.free = totalBlocks;
  }

  get freeBlocks(): number {
    return this.free;
  }

  get usedBlocks(): number {
    return this.totalBlocks - this.free;
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockTokens);
  }

  heldBy(seq: number): number {
    return this.held.get(seq) ?? 0;
  }

  /** Blocks still missing for `seq` to hold `tokens` tokens. */
  shortfall(seq: number, tokens: number): number {
    return Math.max(0, this.blocksFor(tokens) - this.heldBy(seq));
  }

  canGrow(seq: number, tokens: number, reserveBlocks = 0): boolean {
    return this.shortfall(seq, tokens) + reserveBlocks <= this.free;
  }

  /** Grows `seq` to hold `tokens` tokens; false (and no change) if the blocks are not there. */
  grow(seq: number, tokens: number, nowNs: number): boolean {
    const need = this.shortfall(seq, tokens);
    if (need === 0) return true;
    if (need > this.free) return false;
    this.account(nowNs);
    this.free -= need;
    this.held.set(seq, this.heldBy(seq) + need);
    const used = this.totalBlocks - this.free;
    if (used > this.peakUsed) this.peakUsed = used;
    return true;
  }

  /** Frees every block of `seq`; returns how many. */
  release(seq: number, nowNs: number): number {
    const n = this.held.get(seq);
    if (n === undefined) return 0;
    this.account(nowNs);
    this.held.delete(seq);
    this.free += n;
    return n;
  }

  private account(nowNs: number): void {
    if (nowNs > this.lastNs) {
      this.usedIntegral += (this.totalBlocks - this.free) * (nowNs - this.lastNs);
      this.lastNs = nowNs;
    }
  }

  /** Time-averaged fraction of blocks in use over [0, endNs]. */
  utilisation(endNs: number): number {
    this.account(endNs);
    return endNs > 0 && this.totalBlocks > 0 ? this.usedIntegral / (endNs * this.totalBlocks) : 0;
  }

  /** Conservation: free + held == total, and no negative counts. */
  conserved(): boolean {
    let held = 0;
    for (const n of this.held.values()) {
      if (n <= 0) return false;
      held += n;
    }
    return this.free >= 0 && held + this.free === this.totalBlocks;
  }

  /** Whether every held block belongs to a sequence of `live` (a finished or rejected request holds none). */
  heldOnlyBy(live: ReadonlySet<number>): boolean {
    for (const seq of this.held.keys()) if (!live.has(seq)) return false;
    return true;
  }

  get liveSequences(): number {
    return this.held.size;
  }
}
