import type { PassCost, PrefillPiece } from './cost-model.js';
import type { IterationCostModel } from './cost-model.js';
import { hostPhaseNs } from './host-overhead.js';
import { Lane } from './lane.js';
import type { PolicyContext } from './policy.js';
import type { Replica } from './replica.js';
import type { Req } from './request-state.js';

/**
 * Batching machinery the policies share: admission against the paged KV cache, preemption when
 * blocks run out (vLLM's rules), applying a finished iteration (tokens out, blocks back), and a
 * single-stream replica runner. A policy is then just its `nextBatch`.
 */
export interface Batch {
  /** Requests whose prefill advances this iteration, with the tokens each processes. */
  prefill: Req[];
  chunks: number[];
  decode: Req[];
  /** Host-link time for swapping KV in or out before the iteration (ns). */
  extraNs: number;
}

/** Free blocks admission leaves untouched so running requests can grow (vLLM's 1% watermark). */
export const WATERMARK_FRACTION = 0.01;

export function emptyBatch(): Batch {
  return { prefill: [], chunks: [], decode: [], extraNs: 0 };
}

/** Rejects a request that no replica of this shape can ever serve; true when rejected. */
export function rejectIfUnservable(ctx: PolicyContext, rep: Replica, req: Req): boolean {
  const m = ctx.model;
  let reason: string | undefined;
  if (req.promptTokens + req.outputTokens > m.maxSeq) {
    reason = `prompt + output = ${req.promptTokens + req.outputTokens} tokens exceed ${m.name}'s context of ${m.maxSeq}`;
  } else reason = rep.cannotFit(req);
  if (reason === undefined) return false;
  ctx.metrics.reject(req, reason);
  ctx.requestDone(req);
  return true;
}

/**
 * Admits an arriving request to the least-loaded replica (rejecting it if no replica of this shape
 * could ever serve it) and wakes that replica's scheduler.
 */
export function arriveLeastLoaded(ctx: PolicyContext, reps: readonly Replica[], runners: ReadonlyArray<{ kick(): void }>, req: Req): void {
  let best = 0;
  for (let i = 1; i < reps.length; i++) if (reps[i]!.load < reps[best]!.load) best = i;
  const rep = reps[best]!;
  if (rejectIfUnservable(ctx, rep, req)) return;
  req.replica = rep.id;
  rep.waiting.push(req);
  ctx.wakeOnArrival(runners[best]!);
}

/** Evicts a decoding request; returns the host-link time (ns) a swap-out costs. */
export function preempt(ctx: PolicyContext, rep: Replica, victim: Req, nowNs: number): number {
  const i = rep.decoding.indexOf(victim);
  if (i >= 0) rep.decoding.splice(i, 1);
  victim.preemptions++;
  let ns = 0;
  if (ctx.settings.preemption === 'swap') {
    const bytes = victim.kvTokens * rep.memory.kvBytesPerTokenPerGpu;
    rep.swapBytes += bytes;
    ns = bytes / ctx.settings.hostLinkGbps;
    rep.preemptSwap++;
    victim.phase = 'swapped';
    rep.swapped.push(victim);
  } else {
    rep.preemptRecompute++;
    victim.phase = 'queued';
    victim.prefilled = 0;
    victim.prefillTarget = victim.promptTokens + victim.generated;
    rep.waiting.pushFront(victim);
  }
  rep.kv.release(victim.id, nowNs);
  return ns;
}

/**
 * Gives every decoding request a KV slot for the token it writes this iteration. When blocks run
 * out, the most recently admitted request is preempted (possibly the one being served), as vLLM does.
 * Returns the host-link time spent swapping out.
 */
export function reserveDecodeSlots(ctx: PolicyContext, rep: Replica, nowNs: number): number {
  let ns = 0;
  for (let i = 0; i < rep.decoding.length; i++) {
    const r = rep.decoding[i]!;
    const need = rep.kv.shortfall(r.id, r.kvTokens + 1);
    while (need > rep.kv.freeBlocks) {
      const victim = rep.decoding[rep.decoding.length - 1]!;
      ns += preempt(ctx, rep, victim, nowNs);
      if (victim === r) break;
    }
    if (rep.decoding[i] !== r) {
      i--;
      continue;
    }
    rep.kv.grow(r.id, r.kvTokens + 1, nowNs);
  }
  return ns;
}

/** Brings swapped requests back (oldest first) while blocks allow; returns the host-link time. */
export function swapIn(ctx: PolicyContext, rep: Replica, nowNs: number): number {
  let ns = 0;
  const reserve = Math.ceil(rep.kv.totalBlocks * WATERMARK_FRACTION);
  while (rep.swapped.length && rep.decoding.length + rep.prefilling.length < ctx.settings.maxSeqs) {
    const r = rep.swapped[0]!;
    if (!rep.kv.canGrow(r.id, r.kvTokens + 1, reserve)) break;
    rep.swapped.shift();
    rep.kv.grow(r.id, r.kvTokens, nowNs);
    ns += (r.kvTokens * rep.memory.kvBytesPerTokenPerGpu) / ctx.settings.hostLinkGbps;
    r.phase = 'decode';
    rep.decoding.push(r);
  }
  return ns;
}

/**
 * Admits the request at the head of the queue if its whole (re)prefill fits the KV cache above
 * the watermark and the batch has room; allocates its blocks. FCFS: a request that does not fit
 * blocks the ones behind it.
 */
export function admitHead(ctx: PolicyContext, rep: Replica, nowNs: number): Req | undefined {
  const r = rep.waiting.peek();
  if (!r || rep.swapped.length) return undefined;
  if (rep.decoding.length + rep.prefilling.length >= ctx.settings.maxSeqs) return undefined;
  const reserve = Math.ceil(rep.kv.totalBlocks * WATERMARK_FRACTION);
  if (!rep.kv.canGrow(r.id, r.prefillTarget, reserve)) {
    // An idle replica must still make progress: admit without the watermark.
    if (!(rep.decoding.length === 0 && rep.prefilling.length === 0 && rep.kv.canGrow(r.id, r.prefillTarget))) return undefined;
  }
  rep.waiting.shift();
  rep.kv.grow(r.id, r.prefillTarget, nowNs);
  r.phase = 'prefill';
  r.replica = rep.id;
  rep.prefilling.push(r);
  return r;
}

/**
 * Fills a batch's prefill side under a token budget: prompts already in progress first, then new
 * ones admitted FCFS, each contributing at most `chunkCap` tokens (chunked prefill). Returns the
 * budget left.
 */
export function addPrefillChunks(ctx: PolicyContext, rep: Replica, b: Batch, nowNs: number, budget: number, chunkCap = Infinity): number {
  for (const r of rep.prefilling) {
    if (budget <= 0) break;
    budget -= addChunk(b, r, Math.min(r.prefillRemaining, chunkCap, budget));
  }
  while (budget > 0) {
    const r = admitHead(ctx, rep, nowNs);
    if (!r) break;
    budget -= addChunk(b, r, Math.min(r.prefillRemaining, chunkCap, budget));
  }
  return budget;
}

/** Puts `tokens` of r's prompt in the batch; returns them. (Not a closure: one per call was allocated with its budget.) */
function addChunk(b: Batch, r: Req, tokens: number): number {
  b.prefill.push(r);
  b.chunks.push(tokens);
  return tokens;
}

/** Emits one token; releases the request's blocks when it is complete. True when complete. */
export function emitToken(ctx: PolicyContext, rep: Replica, r: Req, nowNs: number): boolean {
  if (!ctx.metrics.token(r, nowNs)) return false;
  rep.kv.release(r.id, nowNs);
  ctx.requestDone(r);
  return true;
}

/**
 * Applies a finished iteration: every decode request gets its token, prefill pieces advance, and a
 * finished prefill samples the first token (or the next one after a recompute) and joins decode —
 * unless `onPrefilled` takes it elsewhere (disaggregated serving ships it to a decode replica).
 */
export function applyIteration(ctx: PolicyContext, rep: Replica, b: Batch, nowNs: number, onPrefilled?: (r: Req) => void): void {
  let finished = 0;
  for (const r of b.decode) if (emitToken(ctx, rep, r, nowNs)) finished++;
  if (finished) {
    let w = 0;
    for (const r of rep.decoding) if (r.phase !== 'done') rep.decoding[w++] = r;
    rep.decoding.length = w;
  }
  for (let i = 0; i < b.prefill.length; i++) {
    const r = b.prefill[i]!;
    r.prefilled += b.chunks[i]!;
    ctx.metrics.prefillTokens += b.chunks[i]!;
    if (r.prefilled < r.prefillTarget) continue;
    rep.prefilling.splice(rep.prefilling.indexOf(r), 1);
    if (onPrefilled) {
      onPrefilled(r);
      continue;
    }
    r.phase = 'decode';
    if (!emitToken(ctx, rep, r, nowNs)) rep.decoding.push(r);
  }
}

export function pieces(b: Batch): PrefillPiece[] {
  return b.prefill.map((r, i) => ({ tokens: b.chunks[i]!, context: r.prefilled }));
}

export function decodeContextSum(decode: readonly Req[]): number {
  let s = 0;
  for (const r of decode) s += r.kvTokens;
  return s;
}

export function batchLabel(b: Batch): string {
  const p = b.chunks.reduce((a, c) => a + c, 0);
  if (p && b.decode.length) return `mixed p${p} d${b.decode.length}`;
  return p ? `prefill ${p} tok` : `decode b${b.decode.length}`;
}

/**
 * One stream per replica: form a batch, cost it on the hardware model (memoised), run it, apply it,
 * repeat while there is work. Continuous batching, chunked prefill and both pools of disaggregated
 * serving run this way; they differ only in `nextBatch` (and what happens after a prefill).
 */
export abstract class SingleStreamRunner {
  readonly lane: Lane;

  constructor(
    readonly ctx: PolicyContext,
    readonly rep: Replica,
    readonly costs: IterationCostModel,
    streamName = 'compute',
  ) {
    // No record without a trace: its object per iteration would be built for nothing.
    const trace = ctx.trace;
    this.lane = new Lane(ctx.sim, streamName, trace ? (lane, it) => trace.iteration(rep.gpus, lane.name, it) : undefined, rep);
  }

  abstract nextBatch(nowNs: number): Batch | undefined;

  /** Called when a prefill finishes; default: join this replica's decode batch. */
  onPrefilled?: (r: Req) => void;

  kick(): void {
    if (this.lane.busy) return;
    const now = this.ctx.sim.nowNs;
    const b = this.nextBatch(now);
    if (!b) return;
    const cost = this.cost(b);
    this.rep.iterations++;
    this.rep.cuNs += cost.cuNs;
    this.rep.hbmBytes += cost.hbmBytes;
    const ns = cost.ns + b.extraNs;
    const host = hostPhaseNs(this.ctx.settings.host, ns, b.prefill.length + b.decode.length);
    this.rep.hostWaitNs += host;
    this.lane.drawing(cost.dynamicEnergyNj);
    this.lane.start(
      ns,
      ns,
      batchLabel(b),
      this.costs.allCus.count,
      () => {
        applyIteration(this.ctx, this.rep, b, this.ctx.sim.nowNs, this.onPrefilled);
        this.kick();
      },
      undefined,
      host,
    );
  }

  cost(b: Batch): PassCost {
    return this.costs.iteration(pieces(b), b.decode.length, decodeContextSum(b.decode));
  }
}
