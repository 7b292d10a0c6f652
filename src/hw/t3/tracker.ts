import { invariant } from '../../core/errors.js';

/**
 * T3's tracker: a small table at the memory controller (256 entries, ~19 KB, mission.md §2) that
 * watches a producer kernel's output tiles and triggers work when a chunk is complete.
 *
 * Each output tile (one workgroup's tile) of a tracked chunk expects local stores from the producer
 * and/or updates arriving from the upstream GPU (its threshold). A tile takes a table entry at its
 * first access and frees it when both sides have arrived. When every tile of a chunk is complete,
 * the chunk's command fires, exactly once.
 *
 * Overflow (table full) is modelled, never ignored:
 * - `stall`: the producer's workgroups wait before storing a batch of tiles that needs new entries,
 *   as long as enough in-table tiles wait for upstream data that will come while the kernels run
 *   (not from an upstream chunk that fell back, which comes only after that kernel ends); otherwise
 *   the batch falls back instead;
 * - `fallback`: tiles that find no entry go untracked; their chunk loses its trigger and completes
 *   through the sequential path once the producer kernel has ended and its data has arrived.
 * Entries are claimed by the producer. A triggered DMA delivers a tile only once the producer has
 * claimed it (the engine waits for the tracker's credit), so DMAs never fill the table and the
 * producer and DMAs cannot wait on each other; the fused runner still checks for a global wait
 * (all producers stalled, no DMA moving) and breaks it by a fallback. Remote stores from the
 * upstream producer carry no back-pressure (plain fire-and-forget writes into this GPU's memory),
 * so they take an entry if one is free and are untracked otherwise. This matters for T3's
 * remote-mapped first chunk: it arrives a whole stage before the local stores that complete it, so
 * a chunk larger than the table cannot stay tracked.
 *
 * Counting is per tile and per side (a tile's bytes arrive in one event: the workgroup's epilogue,
 * or the tile's share of a DMA), so thresholds are per-tile flags. Events arrive in batches of
 * whole tiles (`t3.events_per_chunk`), which only coarsens the timing of entry reuse.
 */
export type CompletionPath = 'trigger' | 'fallback';

export interface TrackedChunk {
  /** Identifier the owner uses (the sub-chunk index). */
  readonly id: number;
  readonly firstTile: number;
  readonly endTile: number;
  /** The chunk receives local stores from the producer. */
  readonly local: boolean;
  /** The chunk receives updates from the upstream GPU. */
  readonly upstream: boolean;
}

export interface TrackerOptions {
  capacity: number;
  overflow: 'stall' | 'fallback';
  tiles: number;
  chunks: readonly TrackedChunk[];
  onChunkComplete: (chunk: TrackedChunk, path: CompletionPath) => void;
  /** A chunk lost its trigger (some tile found no entry). */
  onFallback?: (chunk: TrackedChunk) => void;
}

const LOCAL = 1;
const UP = 2;

const enum TileState {
  Untouched = 0,
  InTable = 1,
  Untracked = 2,
  Complete = 3,
}

/** Per-chunk flags (ChunkTable.flags). */
const FEED_DEFERRED = 1;
const FALLBACK = 2;
const FIRED = 4;

/**
 * The chunks' counters as typed arrays indexed by chunk (the order of TrackerOptions.chunks): a
 * fused run tracks thousands of trigger pieces per GPU, and every tile event reads its chunk's.
 */
interface ChunkTable {
  /** Which sides the chunk's tiles expect (LOCAL | UP). */
  readonly need: Uint8Array;
  /** Tiles whose data is not complete yet. */
  readonly pending: Int32Array;
  /** In-table tiles with local stores done, waiting for upstream data. */
  readonly waitingUp: Int32Array;
  /** FEED_DEFERRED: the upstream copy of this chunk lost its trigger, its data comes after the upstream kernel ends; FALLBACK; FIRED. */
  readonly flags: Uint8Array;
}

export interface TrackerStats {
  maxEntriesUsed: number;
  overflowTiles: number;
  fallbackChunks: number;
  triggers: number;
}

export class Tracker {
  private readonly state: Uint8Array;
  private readonly seen: Uint8Array;
  private readonly chunkOf: Int32Array;
  private readonly chunks: ChunkTable;
  /** Chunk index by chunk id (-1: none); ids are small (sub-chunk x pieces + piece). */
  private readonly byId: Int32Array;
  private used = 0;
  /** In-table tiles, local stores done, whose upstream data will come while we run: entries bound to free. */
  private waitingUpstream = 0;
  private producerDone = false;
  private breakNextStall = false;
  /**
   * The callbacks waiting for entries: the first `nWaiters` of the list. Counted, not emptied with
   * `length = 0`: that gives up the list's storage, and growing it again at the next waits was
   * a tenth of what the T3 study allocated once the solver's lists were reused.
   */
  private waiters: Array<(() => void) | undefined> = [];
  private nWaiters = 0;
  /** A woken waiter list kept for the next wake (a T3 run wakes ~10^5 times), its entries cleared. */
  private spareWaiters: Array<(() => void) | undefined> | undefined;
  /** The producer is waiting for entries. */
  producerStalled = false;
  readonly stats: TrackerStats = { maxEntriesUsed: 0, overflowTiles: 0, fallbackChunks: 0, triggers: 0 };

  constructor(private readonly o: TrackerOptions) {
    this.state = new Uint8Array(o.tiles);
    this.seen = new Uint8Array(o.tiles);
    this.chunkOf = new Int32Array(o.tiles).fill(-1);
    const n = o.chunks.length;
    this.chunks = { need: new Uint8Array(n), pending: new Int32Array(n), waitingUp: new Int32Array(n), flags: new Uint8Array(n) };
    let maxId = -1;
    for (const c of o.chunks) {
      if (!(Number.isInteger(c.id) && c.id >= 0)) invariant(false, `tracker chunk ${c.id}: id must be a non-negative integer`);
      maxId = Math.max(maxId, c.id);
    }
    this.byId = new Int32Array(maxId + 1).fill(-1);
    // Messages are built only on failure: a fused run builds thousands of chunks (trigger pieces).
    for (let ci = 0; ci < n; ci++) {
      const c = o.chunks[ci]!;
      if (!(c.firstTile >= 0 && c.endTile <= o.tiles && c.endTile > c.firstTile)) invariant(false, `tracker chunk ${c.id}: tiles [${c.firstTile}, ${c.endTile}) out of 0..${o.tiles}`);
      if (!(c.local || c.upstream)) invariant(false, `tracker chunk ${c.id}: expects neither local stores nor upstream updates`);
      this.chunks.need[ci] = (c.local ? LOCAL : 0) | (c.upstream ? UP : 0);
      this.chunks.pending[ci] = c.endTile - c.firstTile;
      for (let t = c.firstTile; t < c.endTile; t++) {
        if (this.chunkOf[t] !== -1) invariant(false, `tracker: tile ${t} belongs to two chunks`);
        this.chunkOf[t] = ci;
      }
      if (this.byId[c.id] !== -1) invariant(false, `tracker: two chunks with id ${c.id}`);
      this.byId[c.id] = ci;
    }
  }

  get entriesUsed(): number {
    return this.used;
  }

  get capacity(): number {
    return this.o.capacity;
  }

  isTracked(tile: number): boolean {
    return this.chunkOf[tile]! >= 0;
  }

  /**
   * The producer is about to store tiles [from, to): claims their entries. Returns false when it
   * must wait (stall mode, table full, an entry bound to free); then call `whenFreed` to retry.
   */
  claim(from: number, to: number): boolean {
    let need = 0;
    for (let t = from; t < to; t++) if (this.chunkOf[t]! >= 0 && this.state[t] === TileState.Untouched) need++;
    if (need > 0 && this.used + need > this.o.capacity && this.o.overflow === 'stall' && this.waitingUpstream >= need && !this.breakNextStall) {
      this.producerStalled = true;
      return false;
    }
    this.breakNextStall = false;
    this.producerStalled = false;
    // Fits, or falls back: what fits is tracked, the rest is not.
    for (let t = from; t < to; t++) {
      if (this.chunkOf[t]! < 0 || this.state[t] !== TileState.Untouched) continue;
      if (this.used < this.o.capacity) this.allocate(t);
      else this.untrack(t);
    }
    if (need > 0) this.wakeAll();
    return true;
  }

  /** Whether a DMA may deliver tiles [from, to): the producer has claimed (or untracked) them all (tiles it does not store need no claim). */
  claimed(from: number, to: number): boolean {
    for (let t = from; t < to; t++) {
      const ci = this.chunkOf[t]!;
      if (ci >= 0 && this.state[t] === TileState.Untouched && (this.chunks.need[ci]! & LOCAL) !== 0) return false;
    }
    return true;
  }

  /**
   * The upstream GPU's copy of `chunkId` fell back: it is forwarded only after that GPU's kernel
   * ends, so waiting for it could chain kernels end to end; its tiles no longer justify a stall.
   */
  feedDeferred(chunkId: number): void {
    const ci = this.indexOf(chunkId);
    if (ci < 0 || (this.chunks.flags[ci]! & FEED_DEFERRED) !== 0) return;
    this.chunks.flags[ci]! |= FEED_DEFERRED;
    this.waitingUpstream -= this.chunks.waitingUp[ci]!;
  }

  /** Breaks a global wait: the producer's next refused claim falls back instead. */
  breakStall(): void {
    this.breakNextStall = true;
    this.wakeAll();
  }

  /** Calls `wake` once, the next time entries free or are claimed. */
  whenFreed(wake: () => void): void {
    this.waiters[this.nWaiters++] = wake;
  }

  /** Local stores of tiles [from, to) have reached memory. */
  localStore(from: number, to: number): void {
    this.arrive(from, to, LOCAL);
  }

  /** Upstream updates of tiles [from, to) have reached memory (a DMA, or remote stores). */
  upstream(from: number, to: number): void {
    this.arrive(from, to, UP);
  }

  /** The producer kernel has ended: chunks that lost their trigger can complete in software. */
  producerFinished(): void {
    this.producerDone = true;
    this.producerStalled = false;
    for (let ci = 0; ci < this.o.chunks.length; ci++) this.maybeFire(ci);
    this.wakeAll();
  }

  chunkFired(chunkId: number): boolean {
    const ci = this.indexOf(chunkId);
    return ci >= 0 && (this.chunks.flags[ci]! & FIRED) !== 0;
  }

  allFired(): boolean {
    return this.chunks.flags.every((f) => (f & FIRED) !== 0);
  }

  private indexOf(chunkId: number): number {
    return chunkId >= 0 && chunkId < this.byId.length ? this.byId[chunkId]! : -1;
  }

  private allocate(t: number): void {
    this.state[t] = TileState.InTable;
    this.used++;
    if (this.used > this.stats.maxEntriesUsed) this.stats.maxEntriesUsed = this.used;
  }

  private untrack(t: number): void {
    this.state[t] = TileState.Untracked;
    this.stats.overflowTiles++;
    const ci = this.chunkOf[t]!;
    if ((this.chunks.flags[ci]! & FALLBACK) === 0) {
      this.chunks.flags[ci]! |= FALLBACK;
      this.stats.fallbackChunks++;
      this.o.onFallback?.(this.o.chunks[ci]!);
    }
  }

  private arrive(from: number, to: number, side: number): void {
    let freed = false;
    const { need, pending, waitingUp, flags } = this.chunks;
    for (let t = from; t < to; t++) {
      const ci = this.chunkOf[t]!;
      if (ci < 0) continue;
      const cNeed = need[ci]!;
      // Checked before the message is built: this runs for every tile a GEMM stores or receives.
      if ((cNeed & side) === 0) invariant(false, `tracker: tile ${t} of chunk ${this.o.chunks[ci]!.id} got ${side === LOCAL ? 'a local store' : 'an upstream update'} it does not expect`);
      if ((this.seen[t]! & side) !== 0) invariant(false, `tracker: tile ${t} got its ${side === LOCAL ? 'local stores' : 'upstream updates'} twice`);
      if (this.state[t] === TileState.Untouched) {
        if (this.used < this.o.capacity) this.allocate(t);
        else this.untrack(t);
      }
      const inTable = this.state[t] === TileState.InTable;
      if (inTable && side === UP && this.seen[t] === LOCAL) {
        waitingUp[ci]!--;
        if ((flags[ci]! & FEED_DEFERRED) === 0) this.waitingUpstream--;
      }
      this.seen[t]! |= side;
      if ((this.seen[t]! & cNeed) !== cNeed) {
        if (inTable && side === LOCAL) {
          waitingUp[ci]!++;
          if ((flags[ci]! & FEED_DEFERRED) === 0) this.waitingUpstream++;
        }
        continue;
      }
      if (inTable) {
        this.state[t] = TileState.Complete;
        this.used--;
        freed = true;
      }
      pending[ci]!--;
      this.maybeFire(ci);
    }
    if (freed) this.wakeAll();
  }

  private wakeAll(): void {
    const n = this.nWaiters;
    if (!n) return;
    const w = this.waiters;
    // Waiters that register while these wake (most retry and wait again) go to a fresh list; a
    // wake may wake again (nested), which then finds no spare and takes a new one.
    this.waiters = this.spareWaiters ?? [];
    this.nWaiters = 0;
    this.spareWaiters = undefined;
    for (let i = 0; i < n; i++) w[i]!();
    // Cleared so the spare list holds no finished waits' closures.
    for (let i = 0; i < n; i++) w[i] = undefined;
    this.spareWaiters = w;
  }

  private maybeFire(ci: number): void {
    const f = this.chunks.flags[ci]!;
    if ((f & FIRED) !== 0 || this.chunks.pending[ci]! > 0) return;
    const fallback = (f & FALLBACK) !== 0;
    if (fallback && !this.producerDone) return;
    this.chunks.flags[ci] = f | FIRED;
    if (!fallback) this.stats.triggers++;
    this.o.onChunkComplete(this.o.chunks[ci]!, fallback ? 'fallback' : 'trigger');
  }
}
