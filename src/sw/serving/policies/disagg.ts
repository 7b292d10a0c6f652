import { z } from 'zod';
import { DTYPE_BYTES } from '../../../hw/config/schema.js';
import { dmaTransfer } from '../../../hw/dma/dma.js';
import { admitHead, emitToken, emptyBatch, rejectIfUnservable, reserveDecodeSlots, SingleStreamRunner, swapIn, type Batch } from '../batching.js';
import type { IterationCostModel } from '../cost-model.js';
import { registerPolicy, type PolicyContext, type PolicyNode, type ServingPolicy } from '../policy.js';
import { Replica, sizeReplica } from '../replica.js';
import { splitPools } from './disagg-pools.js';
import type { Req } from '../request-state.js';

/**
 * `disagg`: disaggregated serving (DistServe / Splitwise style). `prefill_gpus` GPUs run only
 * prefills (whole prompts, batched FCFS up to `prefill_max_tokens`), `decode_gpus` GPUs run only
 * decode steps. A prompt's first token comes out of the prefill pool; its KV cache then moves to a
 * decode replica over the node's links: each prefill rank DMAs the KV heads it holds to the decode
 * ranks that own them (src/hw/dma, one flow per pair over the xGMI link between them, sharing link
 * and HBM bandwidth with every other transfer in flight). Decode blocks are allocated before the
 * transfer starts; prefill blocks are freed when it ends. A decode-side recompute preemption sends
 * the request back to the prefill pool.
 *
 * How the serving runtime around the pools behaves is a choice of options, because deployed systems
 * differ (docs/serving.md, "The disaggregated runtime"):
 * - `kv_receive: async` (default; DistServe, and connectors that move KV beside the running batch):
 *   a decode replica keeps decoding while KV arrives, and a request joins the batch once its KV is
 *   in. `blocking`: a decode replica takes prefilled requests at an iteration boundary and starts
 *   no iteration until their KV has arrived, as a connector that receives inside the model
 *   runner's step does (vLLM's first disaggregated-prefill connectors): every request in the batch
 *   waits for the transfer.
 * - `first_token: prefill` (default): the client gets the first token when the prefill finishes.
 *   `decode`: the first token the client sees comes out of the decode replica's first iteration
 *   with the request, after the transfer (a proxy that sends the prompt to the prefill pool for one
 *   token, then streams the request from the decode pool); the prefill's own token is not shown.
 * - `kv_transfer_overhead_us` (default 0): software time per request before its KV starts moving
 *   (connector handshake, metadata, a proxy's second request), on no GPU resource.
 */
const options = z
  .object({
    prefill_gpus: z.number().int().positive().optional(),
    decode_gpus: z.number().int().positive().optional(),
    prefill_tp: z.number().int().positive().optional(),
    decode_tp: z.number().int().positive().optional(),
    prefill_max_tokens: z.number().int().positive().default(8192),
    kv_receive: z.enum(['async', 'blocking']).default('async'),
    first_token: z.enum(['prefill', 'decode']).default('prefill'),
    kv_transfer_overhead_us: z.number().nonnegative().finite().default(0),
  })
  .strict();

type Options = z.infer<typeof options>;

class PrefillRunner extends SingleStreamRunner {
  constructor(
    ctx: PolicyContext,
    rep: Replica,
    costs: IterationCostModel,
    readonly maxTokens: number,
  ) {
    super(ctx, rep, costs, 'prefill');
  }

  override nextBatch(nowNs: number): Batch | undefined {
    const b = emptyBatch();
    let tokens = 0;
    for (;;) {
      const head = this.rep.waiting.peek();
      if (!head || (b.prefill.length && tokens + head.prefillTarget > this.maxTokens)) break;
      const r = admitHead(this.ctx, this.rep, nowNs);
      if (!r) break;
      b.prefill.push(r);
      b.chunks.push(r.prefillTarget);
      tokens += r.prefillTarget;
    }
    return b.prefill.length ? b : undefined;
  }
}

class DecodeRunner extends SingleStreamRunner {
  /** Transfers into this replica not yet complete, and since when some have been in flight. */
  inbound = 0;
  inboundSinceNs = 0;
  /** Blocking receive: KV pulled at the last boundary has arrived, and no iteration has run since. */
  received = false;

  constructor(
    ctx: PolicyContext,
    rep: Replica,
    costs: IterationCostModel,
    readonly policy: DisaggPolicy,
  ) {
    super(ctx, rep, costs, 'decode');
  }

  override nextBatch(nowNs: number): Batch | undefined {
    const rep = this.rep;
    if (this.policy.blocking) {
      // KV still arriving holds the whole batch. Once it is in, one iteration runs with it before
      // the next pull (the step that received it computes); then KV that fits is pulled, and holds
      // the batch in turn.
      if (this.inbound > 0) return undefined;
      if (this.received) this.received = false;
      else if (this.policy.pullTransfers(rep) > 0) return undefined;
    } else this.policy.startTransfers();
    const b = emptyBatch();
    b.extraNs = swapIn(this.ctx, rep, nowNs) + reserveDecodeSlots(this.ctx, rep, nowNs);
    // Recompute-preempted requests go back to the prefill pool.
    for (let r = rep.waiting.shift(); r; r = rep.waiting.shift()) this.policy.requeue(r);
    if (rep.decoding.length === 0) return undefined;
    b.decode = rep.decoding.slice();
    return b;
  }
}

class DisaggPolicy implements ServingPolicy {
  readonly prefillReps: Replica[] = [];
  readonly decodeReps: Replica[] = [];
  private readonly prefillRunners: PrefillRunner[] = [];
  private readonly decodeRunners: DecodeRunner[] = [];
  /** Prefilled requests waiting for decode blocks, FCFS. */
  private readonly ready: Array<{ req: Req; from: Replica }> = [];
  private readonly kvBytesPerToken: number;
  readonly blocking: boolean;
  private readonly firstTokenAtDecode: boolean;
  private readonly transferOverheadNs: number;
  transfers = 0;
  transferBytes = 0;
  transferNs = 0;
  inFlight = 0;
  /** Decode-replica time spent waiting for KV with no iteration running (blocking receive). */
  receiveStallNs = 0;

  constructor(
    readonly ctx: PolicyContext,
    o: Options,
  ) {
    const { prefillGpus: x, decodeGpus: y, prefillTp: tpP, decodeTp: tpD } = splitPools({ gpus: ctx.gpus, tp: ctx.settings.tp, model: ctx.model }, o);
    const costsP = ctx.costsFor(tpP);
    const costsD = ctx.costsFor(tpD);
    const memP = sizeReplica(ctx.hw, ctx.model, { ...ctx.settings, tp: tpP, maxBatchTokens: Math.max(o.prefill_max_tokens, ctx.settings.maxBatchTokens) });
    const memD = sizeReplica(ctx.hw, ctx.model, { ...ctx.settings, tp: tpD, maxBatchTokens: ctx.settings.maxSeqs });
    for (let i = 0; i < x / tpP; i++) {
      const rep = new Replica(i, range(i * tpP, tpP), memP);
      this.prefillReps.push(rep);
      const runner = new PrefillRunner(ctx, rep, costsP, o.prefill_max_tokens);
      runner.onPrefilled = (r) => this.prefilled(r, rep);
      this.prefillRunners.push(runner);
    }
    for (let j = 0; j < y / tpD; j++) {
      const rep = new Replica(this.prefillReps.length + j, range(x + j * tpD, tpD), memD);
      this.decodeReps.push(rep);
      this.decodeRunners.push(new DecodeRunner(ctx, rep, costsD, this));
    }
    const m = ctx.model;
    this.kvBytesPerToken = 2 * m.layers * m.kvHeads * m.headDim * DTYPE_BYTES[ctx.settings.kvDtype];
    this.blocking = o.kv_receive === 'blocking';
    this.firstTokenAtDecode = o.first_token === 'decode';
    this.transferOverheadNs = o.kv_transfer_overhead_us * 1000;
  }

  arrive(req: Req): void {
    const p = leastLoaded(this.prefillReps);
    const d = leastLoaded(this.decodeReps);
    if (rejectIfUnservable(this.ctx, p, req) || rejectIfUnservable(this.ctx, d, req)) return;
    p.waiting.push(req);
    this.ctx.wakeOnArrival(this.prefillRunners[this.prefillReps.indexOf(p)]!);
  }

  /** A decode-side recompute preemption: prefill it again (ahead of new arrivals). */
  requeue(req: Req): void {
    const p = leastLoaded(this.prefillReps);
    p.waiting.pushFront(req);
    this.prefillRunners[this.prefillReps.indexOf(p)]!.kick();
  }

  private prefilled(req: Req, from: Replica): void {
    const now = this.ctx.sim.nowNs;
    req.phase = 'transfer';
    // The prefill samples the next token (the first one, or the next one after a recompute),
    // unless the client sees tokens only from the decode pool.
    if (!this.firstTokenAtDecode && emitToken(this.ctx, from, req, now)) return;
    this.ready.push({ req, from });
    if (!this.blocking) this.startTransfers();
    // Blocking: an idle decode replica pulls it now, a busy one at its next iteration boundary.
    else for (const runner of this.decodeRunners) runner.kick();
  }

  /** Starts KV transfers for prefilled requests, FCFS, while decode replicas have blocks. */
  startTransfers(): void {
    while (this.ready.length) {
      const { req, from } = this.ready[0]!;
      const to = this.pickDecode(req);
      if (!to) return;
      this.ready.shift();
      to.kv.grow(req.id, req.kvTokens + 1, this.ctx.sim.nowNs);
      this.transfer(req, from, to);
    }
  }

  /** Blocking receive: starts the transfers of the prefilled requests (FCFS) that fit `to`; returns how many. */
  pullTransfers(to: Replica): number {
    let started = 0;
    while (this.ready.length && this.fits(to, this.ready[0]!.req, started)) {
      const { req, from } = this.ready.shift()!;
      to.kv.grow(req.id, req.kvTokens + 1, this.ctx.sim.nowNs);
      this.transfer(req, from, to);
      started++;
    }
    return started;
  }

  private pickDecode(req: Req): Replica | undefined {
    let best: Replica | undefined;
    for (const d of this.decodeReps) {
      if (!this.fits(d, req, 0)) continue;
      if (!best || d.load < best.load) best = d;
    }
    return best;
  }

  /** Whether decode replica `d` has a sequence slot and KV blocks for `req`, beside `incoming` requests already headed there. */
  private fits(d: Replica, req: Req, incoming: number): boolean {
    if (d.decoding.length + d.swapped.length + incoming >= this.ctx.settings.maxSeqs) return false;
    return d.kv.canGrow(req.id, req.kvTokens + 1, Math.ceil(d.kv.totalBlocks * 0.01));
  }

  private transfer(req: Req, from: Replica, to: Replica): void {
    const sim = this.ctx.sim;
    const start = sim.nowNs;
    const total = req.kvTokens * this.kvBytesPerToken;
    const pairs: Array<{ src: number; dst: number; bytes: number }> = [];
    const np = from.gpus.length;
    const nd = to.gpus.length;
    // Rank i of the prefill group holds KV heads [i/np, (i+1)/np) of the model; rank j of the decode group needs [j/nd, (j+1)/nd).
    for (let i = 0; i < np; i++) {
      for (let j = 0; j < nd; j++) {
        const overlap = Math.min((i + 1) / np, (j + 1) / nd) - Math.max(i / np, j / nd);
        if (overlap > 1e-12) pairs.push({ src: from.gpus[i]!, dst: to.gpus[j]!, bytes: Math.round(total * overlap) });
      }
    }
    let left = pairs.length;
    const receiver = this.decodeRunners[this.decodeReps.indexOf(to)]!;
    if (receiver.inbound++ === 0) receiver.inboundSinceNs = start;
    this.inFlight++;
    const done = () => {
      if (--left > 0) return;
      const now = sim.nowNs;
      this.inFlight--;
      this.transfers++;
      this.transferBytes += total;
      this.transferNs += now - start;
      this.ctx.trace?.span(from.gpus, 'kv-transfer', `kv ${req.id} ${req.kvTokens} tok`, start, now, { bytes: total, to_replica: to.id });
      // Blocking receive: the decode replica has run nothing since its first transfer began.
      if (--receiver.inbound === 0 && this.blocking) {
        receiver.received = true;
        this.receiveStallNs += now - receiver.inboundSinceNs;
        this.ctx.trace?.span(to.gpus, 'kv-receive', 'waiting for KV', receiver.inboundSinceNs, now, {});
      }
      from.kv.release(req.id, now);
      req.phase = 'decode';
      req.replica = to.id;
      to.decoding.push(req);
      this.prefillRunners[this.prefillReps.indexOf(from)]!.kick();
      receiver.kick();
    };
    const move = () => {
      for (const p of pairs) dmaTransfer(this.ctx.system, { src: p.src, dst: p.dst, bytes: p.bytes, name: `kv${req.id}`, onComplete: done });
    };
    if (this.transferOverheadNs > 0) sim.after(this.transferOverheadNs, move);
    else move();
  }

  replicas(): readonly Replica[] {
    return [...this.prefillReps, ...this.decodeReps];
  }

  stats(): Record<string, number | string> {
    return {
      prefill_replicas: this.prefillReps.length,
      decode_replicas: this.decodeReps.length,
      prefill_tp: this.prefillReps[0]?.gpus.length ?? 0,
      decode_tp: this.decodeReps[0]?.gpus.length ?? 0,
      kv_transfers: this.transfers,
      kv_transfer_bytes: this.transferBytes,
      kv_transfer_mean_ms: this.transfers ? this.transferNs / this.transfers / 1e6 : 0,
      ...(this.blocking ? { kv_receive_stall_ms: this.receiveStallNs / 1e6 } : {}),
    };
  }
}

function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

function leastLoaded(reps: readonly Replica[]): Replica {
  let best = reps[0]!;
  for (const r of reps) if (r.load < best.load) best = r;
  return best;
}

registerPolicy({
  name: 'disagg',
  description: 'disaggregated prefill and decode pools; KV moved between them by DMA over the links',
  options,
  check: (o: Options, node: PolicyNode) => void splitPools(node, o),
  create: (ctx: PolicyContext, o: Options) => new DisaggPolicy(ctx, o),
});
