import { z } from 'zod';
import { armFor, type AdaptiveResourceManager, type CuSplit } from '../arm.js';
import { addPrefillChunks, applyIteration, batchLabel, decodeContextSum, emptyBatch, pieces, arriveLeastLoaded, reserveDecodeSlots, swapIn, type Batch } from '../batching.js';
import { corunMemoFor, type CorunMemo } from '../corun.js';
import type { IterationCostModel, PassCost } from '../cost-model.js';
import { hostPhaseNs } from '../host-overhead.js';
import { Lane } from '../lane.js';
import { registerPolicy, type PolicyContext, type ServingPolicy } from '../policy.js';
import { Replica, sizeReplica } from '../replica.js';
import type { Req } from '../request-state.js';

/**
 * `rapid`: prefill and decode as two concurrent streams on the same GPUs (two processes sharing the
 * weights and the paged KV cache; no KV copy). Only the decode side allocates KV blocks: it admits a
 * prompt by allocating its blocks and hands them to the prefill stream. The prefill stream runs
 * whole prompts (up to `prefill_max_tokens` per iteration; longer prompts in pieces) without ever
 * waiting for decode; the decode stream steps every running request without ever waiting for a
 * prompt. Iterations of the two streams co-run on the hardware model (corun.ts) on the CU split the
 * Adaptive Resource Manager (arm.ts) chooses.
 */
const armSchema = z
  .object({
    mode: z.enum(['adaptive', 'unmasked', 'split']).default('adaptive'),
    itl_target_fraction: z.number().gt(0).lte(1).default(0.8),
    /** Default: one full prefill iteration (prefill_max_tokens) queued. */
    split_backlog_tokens: z.number().int().nonnegative().optional(),
    min_hold_ms: z.number().nonnegative().default(50),
    switch_cost_us: z.number().nonnegative().default(50),
    /** Decode context the offline table is built at (default: mean prompt + half the mean output). */
    context_tokens: z.number().int().positive().optional(),
  })
  .strict();

const options = z
  .object({
    prefill_max_tokens: z.number().int().positive().default(8192),
    arm: armSchema.prefault({}),
  })
  .strict();

type Options = z.infer<typeof options>;

class RapidReplica {
  readonly prefillLane: Lane;
  readonly decodeLane: Lane;
  split: CuSplit;
  splitSinceNs = 0;
  switches = 0;
  private prefillBatch?: Batch;
  private decodeBatch?: Batch;
  private pendingPrefillNs = 0;
  private pendingDecodeNs = 0;
  private lastSampleNs = -Infinity;

  constructor(
    readonly ctx: PolicyContext,
    readonly rep: Replica,
    readonly costs: IterationCostModel,
    readonly corun: CorunMemo,
    readonly arm: AdaptiveResourceManager,
    readonly o: Options,
    readonly timeline: Array<Record<string, number | string>>,
  ) {
    const rec = (lane: Lane, it: Parameters<NonNullable<ConstructorParameters<typeof Lane>[2]>>[1]) => ctx.trace?.iteration(rep.gpus, lane.name, it);
    // No record without a trace: its object per iteration would be built for nothing.
    this.prefillLane = new Lane(ctx.sim, 'prefill', ctx.trace ? rec : undefined, rep);
    this.decodeLane = new Lane(ctx.sim, 'decode', ctx.trace ? rec : undefined, rep);
    this.prefillLane.partner = this.decodeLane;
    this.decodeLane.partner = this.prefillLane;
    this.split = o.arm.mode === 'split' ? arm.split(arm.decodeCusFor(1)) : arm.unmasked;
    this.record(0, 'start');
  }

  kick(): void {
    this.kickDecode();
    this.kickPrefill();
  }

  private kickDecode(): void {
    if (this.decodeLane.busy) return;
    const now = this.ctx.sim.nowNs;
    const rep = this.rep;
    const extra = swapIn(this.ctx, rep, now) + reserveDecodeSlots(this.ctx, rep, now);
    if (rep.decoding.length === 0) return;
    this.manage(now);
    const b = emptyBatch();
    b.decode = rep.decoding.slice();
    b.extraNs = extra + this.pendingDecodeNs;
    this.pendingDecodeNs = 0;
    this.decodeBatch = b;
    this.launch('decode', b, () => {
      this.decodeBatch = undefined;
      applyIteration(this.ctx, rep, b, this.ctx.sim.nowNs);
      this.kick();
    });
  }

  private kickPrefill(): void {
    if (this.prefillLane.busy) return;
    const now = this.ctx.sim.nowNs;
    const rep = this.rep;
    const b = emptyBatch();
    addPrefillChunks(this.ctx, rep, b, now, this.o.prefill_max_tokens);
    if (b.prefill.length === 0) return;
    this.manage(now);
    b.extraNs = this.pendingPrefillNs;
    this.pendingPrefillNs = 0;
    this.prefillBatch = b;
    this.launch('prefill', b, () => {
      this.prefillBatch = undefined;
      applyIteration(this.ctx, rep, b, this.ctx.sim.nowNs);
      this.kick();
    });
  }

  /** The iteration's isolated cost on its stream's CUs at the current split. */
  private costOf(kind: 'prefill' | 'decode', b: Batch): PassCost {
    return kind === 'prefill'
      ? this.costs.iteration(pieces(b), 0, 0, this.split.prefill)
      : this.costs.iteration([], b.decode.length, decodeContextSum(b.decode), this.split.decode);
  }

  /**
   * Co-run slowdowns of the two in-flight iterations at the current split, and the share of their
   * energy alone each draws beside the other (1 when one stream is idle).
   */
  private factors(): { prefill: number; decode: number; prefillEnergy: number; decodeEnergy: number } {
    const p = this.prefillBatch;
    const d = this.decodeBatch;
    if (!p || !d) return { prefill: 1, decode: 1, prefillEnergy: 1, decodeEnergy: 1 };
    const tokens = p.chunks.reduce((a, c) => a + c, 0);
    const f = this.corun.factors(tokens, d.decode.length, decodeContextSum(d.decode) / d.decode.length, this.split.prefill, this.split.decode);
    return { prefill: f.prefillSlowdown, decode: f.decodeSlowdown, prefillEnergy: f.prefillEnergyFactor, decodeEnergy: f.decodeEnergyFactor };
  }

  /** Retimes an in-flight iteration (of cost `cost` at the current split) to the co-run factors, its progress kept. */
  private retimeInFlight(kind: 'prefill' | 'decode', b: Batch, cost: PassCost, f: ReturnType<RapidReplica['factors']>, cus?: number): void {
    const lane = kind === 'prefill' ? this.prefillLane : this.decodeLane;
    const iso = cost.ns + b.extraNs;
    lane.retime(iso, iso * (kind === 'prefill' ? f.prefill : f.decode), cus);
  }

  /**
   * The energy the in-flight (or starting) iterations draw: alone, and the share of it beside the
   * other stream (the co-run's energy factors). The factors come from a short co-run of
   * power-of-two shapes, whose edges put a lane's energy and its time on slightly different
   * kernels; the board never draws more than the cap, so where the pair would, at the actual
   * shapes, both shares are scaled down to it (by at most a few percent on an H100 or H200).
   * Returns the iterations' costs at the current split, for their timing.
   */
  private drawing(f: ReturnType<RapidReplica['factors']>): { prefill?: PassCost; decode?: PassCost } {
    const p = this.prefillBatch;
    const d = this.decodeBatch;
    const pc = p && this.costOf('prefill', p);
    const dc = d && this.costOf('decode', d);
    let scale = 1;
    const power = this.ctx.hw.compute.power;
    if (power && p && d && pc && dc) {
      const togetherW = (pc.dynamicEnergyNj * f.prefillEnergy) / ((pc.ns + p.extraNs) * f.prefill) + (dc.dynamicEnergyNj * f.decodeEnergy) / ((dc.ns + d.extraNs) * f.decode);
      const headroomW = power.cap_w - power.static_w;
      if (togetherW > headroomW) scale = headroomW / togetherW;
    }
    if (pc) this.prefillLane.drawing(pc.dynamicEnergyNj, f.prefillEnergy * scale);
    if (dc) this.decodeLane.drawing(dc.dynamicEnergyNj, f.decodeEnergy * scale);
    return { prefill: pc, decode: dc };
  }

  private launch(kind: 'prefill' | 'decode', b: Batch, onDone: () => void): void {
    const f = this.factors();
    const costs = this.drawing(f);
    const cost = costs[kind]!;
    this.rep.iterations++;
    this.rep.cuNs += cost.cuNs;
    this.rep.hbmBytes += cost.hbmBytes;
    const iso = cost.ns + b.extraNs;
    const lane = kind === 'prefill' ? this.prefillLane : this.decodeLane;
    const other = kind === 'prefill' ? this.decodeLane : this.prefillLane;
    const otherKind = kind === 'prefill' ? 'decode' : 'prefill';
    const otherBatch = kind === 'prefill' ? this.decodeBatch : this.prefillBatch;
    if (other.busy && otherBatch) this.retimeInFlight(otherKind, otherBatch, costs[otherKind]!, f);
    const set = kind === 'prefill' ? this.split.prefill : this.split.decode;
    // Each stream is its own engine process, with its own scheduler on its own CPU core: its host
    // phase comes before its GPU work, which alone the co-run slowdown stretches.
    const host = hostPhaseNs(this.ctx.settings.host, iso, b.prefill.length + b.decode.length);
    this.rep.hostWaitNs += host;
    lane.start(iso, iso * (kind === 'prefill' ? f.prefill : f.decode), batchLabel(b), set.count, onDone, undefined, host);
  }

  /** The ARM: picks the split for the current load; retimes in-flight iterations on a switch. */
  private manage(nowNs: number): void {
    const mode = this.o.arm.mode;
    const B = Math.max(1, this.rep.decoding.length);
    let want: CuSplit;
    if (mode === 'unmasked') want = this.arm.unmasked;
    else if (mode === 'split') want = this.splitFor(B);
    else {
      const heavy = this.heavy(B);
      const held = nowNs - this.splitSinceNs >= this.o.arm.min_hold_ms * 1e6;
      if (this.split.decodeCus === 0) want = heavy ? this.splitFor(B) : this.split;
      else if (!heavy) want = held ? this.arm.unmasked : this.split;
      else want = held || this.splitFor(B).decodeCus > this.split.decodeCus ? this.splitFor(B) : this.split;
    }
    if (want !== this.split) this.switchTo(want, nowNs);
    if (nowNs - this.lastSampleNs >= 100e6) this.record(nowNs, 'sample');
  }

  /** Table entry for the batch, stepped up while the actual context would still miss the target. */
  private splitFor(batch: number): CuSplit {
    let cus = this.arm.decodeCusFor(batch);
    const ctxTokens = this.rep.decoding.length ? decodeContextSum(this.rep.decoding) / this.rep.decoding.length : this.arm.ref.contextTokens;
    if (ctxTokens > this.arm.ref.contextTokens) {
      const options = [...new Set(this.arm.table.map((e) => e.decodeCus))].filter((c) => c >= cus).sort((a, b) => a - b);
      for (const c of options) {
        cus = c;
        if (this.arm.decodeItlMs(batch, ctxTokens, this.arm.split(c)) <= this.arm.targetMs) break;
      }
    }
    return this.arm.split(cus);
  }

  /**
   * Heavy load: the prefill stream is working and either prompts queue up behind it or unmasked
   * co-running would push decode past the ITL target. A prefill stream idle for lack of KV blocks
   * gains nothing from CUs: decode then gets them all back, and frees blocks sooner.
   */
  private heavy(batch: number): boolean {
    const rep = this.rep;
    if (!this.prefillLane.busy && rep.prefilling.length === 0) return false;
    const threshold = this.o.arm.split_backlog_tokens ?? this.o.prefill_max_tokens;
    let backlog = 0;
    for (const r of rep.waiting) {
      backlog += r.prefillTarget;
      if (backlog >= threshold) return true;
    }
    if (rep.decoding.length === 0) return false;
    const ctxTokens = decodeContextSum(rep.decoding) / rep.decoding.length;
    return this.arm.decodeItlMs(batch, ctxTokens, this.arm.unmasked) > this.arm.targetMs;
  }

  private switchTo(s: CuSplit, nowNs: number): void {
    this.split = s;
    this.splitSinceNs = nowNs;
    this.switches++;
    const cost = this.o.arm.switch_cost_us * 1e3;
    this.pendingDecodeNs += cost;
    this.pendingPrefillNs += cost;
    // In-flight iterations continue on the new masks from their next kernel: carry their progress over.
    const f = this.factors();
    const costs = this.drawing(f);
    if (this.prefillBatch) this.retimeInFlight('prefill', this.prefillBatch, costs.prefill!, f, s.prefill.count);
    if (this.decodeBatch) this.retimeInFlight('decode', this.decodeBatch, costs.decode!, f, s.decode.count);
    this.record(nowNs, 'switch');
  }

  private record(nowNs: number, event: string): void {
    this.lastSampleNs = nowNs;
    const decodeCus = this.split.decodeCus === 0 ? this.costs.allCus.count : this.split.decode.count;
    const prefillCus = this.split.prefill.count;
    this.timeline.push({ replica: this.rep.id, time_s: nowNs / 1e9, event, mode: this.split.decodeCus === 0 ? 'unmasked' : 'split', decode_cus: decodeCus, prefill_cus: prefillCus, decode_batch: this.rep.decoding.length });
    for (const g of this.rep.gpus) this.ctx.trace?.counter(g, 'cu_split', nowNs, { decode_cus: this.split.decodeCus === 0 ? 0 : decodeCus, prefill_cus: this.split.decodeCus === 0 ? 0 : prefillCus });
  }
}

class RapidPolicy implements ServingPolicy {
  readonly reps: Replica[] = [];
  readonly runners: RapidReplica[] = [];
  readonly arm: AdaptiveResourceManager;
  readonly timeline: Array<Record<string, number | string>> = [];

  constructor(
    readonly ctx: PolicyContext,
    o: Options,
  ) {
    const tp = ctx.settings.tp;
    const memory = sizeReplica(ctx.hw, ctx.model, { ...ctx.settings, maxBatchTokens: Math.max(ctx.settings.maxBatchTokens, o.prefill_max_tokens + ctx.settings.maxSeqs) });
    const corun = corunMemoFor(ctx.costs);
    const w = ctx.workload;
    this.arm = armFor(ctx.costs, corun, o.arm, ctx.metrics.slo.itlMs, {
      contextTokens: o.arm.context_tokens ?? Math.max(1, Math.round(w.meanPromptTokens + w.meanOutputTokens / 2)),
      prefillTokens: Math.max(1, Math.min(o.prefill_max_tokens, Math.round(w.meanPromptTokens) || o.prefill_max_tokens)),
      maxBatch: ctx.settings.maxSeqs,
    });
    for (let i = 0; i * tp + tp <= ctx.gpus; i++) {
      const rep = new Replica(i, Array.from({ length: tp }, (_, g) => i * tp + g), memory);
      this.reps.push(rep);
      this.runners.push(new RapidReplica(ctx, rep, ctx.costs, corun, this.arm, o, this.timeline));
    }
  }

  arrive(req: Req): void {
    arriveLeastLoaded(this.ctx, this.reps, this.runners, req);
  }

  replicas(): readonly Replica[] {
    return this.reps;
  }

  stats(): Record<string, number | string> {
    return {
      replicas: this.reps.length,
      arm_switches: this.runners.reduce((a, r) => a + r.switches, 0),
      arm_table: this.arm.table.map((e) => `${e.batch}:${e.decodeCus}`).join(' '),
      arm_hw_queues: this.arm.hwQueuesUsed,
      arm_context_tokens: this.arm.ref.contextTokens,
    };
  }
}

registerPolicy({
  name: 'rapid',
  description: 'concurrent prefill and decode streams on the same GPUs with CU masks and an adaptive resource manager',
  options,
  create: (ctx: PolicyContext, o: Options) => new RapidPolicy(ctx, o),
});
