import { z } from 'zod';
import { admitHead, emptyBatch, arriveLeastLoaded, reserveDecodeSlots, SingleStreamRunner, swapIn, type Batch } from '../batching.js';
import { registerPolicy, type PolicyContext, type ServingPolicy } from '../policy.js';
import { Replica, sizeReplica } from '../replica.js';
import type { Req } from '../request-state.js';

/**
 * `continuous`: vLLM's continuous batching without chunked prefill (v0 default scheduler). Each
 * iteration is either a prefill of as many whole waiting prompts as fit `max_batch_tokens` and the
 * KV cache, or, when none can be admitted, one decode step of every running request. Prefills take
 * priority, so a burst of arrivals stalls every running decode for a whole prompt's prefill.
 * Replicas: gpus / tp copies of the model; a request goes to the replica with the least work.
 */
class ContinuousScheduler extends SingleStreamRunner {
  override nextBatch(nowNs: number): Batch | undefined {
    const rep = this.rep;
    for (let attempt = 0; attempt < 2; attempt++) {
      let extraNs = swapIn(this.ctx, rep, nowNs);
      const b = emptyBatch();
      let tokens = 0;
      for (;;) {
        const head = rep.waiting.peek();
        if (!head || (b.prefill.length && tokens + head.prefillTarget > this.ctx.settings.maxBatchTokens)) break;
        const r = admitHead(this.ctx, rep, nowNs);
        if (!r) break;
        b.prefill.push(r);
        b.chunks.push(r.prefillTarget);
        tokens += r.prefillTarget;
      }
      if (b.prefill.length) {
        b.extraNs = extraNs;
        return b;
      }
      extraNs += reserveDecodeSlots(this.ctx, rep, nowNs);
      if (rep.decoding.length) {
        b.decode = rep.decoding.slice();
        b.extraNs = extraNs;
        return b;
      }
      if (!rep.waiting.length) return undefined;
    }
    return undefined;
  }
}

export class ReplicaPool implements ServingPolicy {
  readonly reps: Replica[] = [];
  readonly runners: SingleStreamRunner[] = [];

  constructor(
    readonly ctx: PolicyContext,
    make: (rep: Replica) => SingleStreamRunner,
  ) {
    const tp = ctx.settings.tp;
    const memory = sizeReplica(ctx.hw, ctx.model, ctx.settings);
    for (let i = 0; i * tp + tp <= ctx.gpus; i++) {
      const rep = new Replica(i, Array.from({ length: tp }, (_, g) => i * tp + g), memory);
      this.reps.push(rep);
      this.runners.push(make(rep));
    }
  }

  arrive(req: Req): void {
    arriveLeastLoaded(this.ctx, this.reps, this.runners, req);
  }

  replicas(): readonly Replica[] {
    return this.reps;
  }

  stats(): Record<string, number | string> {
    return { replicas: this.reps.length };
  }
}

registerPolicy({
  name: 'continuous',
  description: 'vLLM continuous batching without chunked prefill (prefill-priority, whole prompts)',
  options: z.object({}).strict(),
  create: (ctx: PolicyContext) => new ReplicaPool(ctx, (rep) => new ContinuousScheduler(ctx, rep, ctx.costs)),
});
