import { z } from 'zod';
import { addPrefillChunks, admitHead, emptyBatch, reserveDecodeSlots, SingleStreamRunner, swapIn, type Batch } from '../batching.js';
import type { IterationCostModel } from '../cost-model.js';
import { registerPolicy, type PolicyContext } from '../policy.js';
import type { Replica } from '../replica.js';
import { ReplicaPool } from './continuous.js';

/**
 * `hybrid`: chunked prefill with a per-iteration token budget (Sarathi-Serve, vLLM's chunked
 * prefill). Every iteration first takes one token of every running decode, then fills the rest of
 * the budget with prefill chunks (at most `chunk` tokens each): in-progress prompts first, then new
 * ones FCFS. Decodes never stall for a whole prompt, but every decode token waits for the chunk
 * sharing its iteration, so inter-token latency grows with the chunk.
 */
const options = z
  .object({
    /** Largest prefill piece one request contributes to an iteration (tokens). */
    chunk: z.number().int().positive().default(512),
    /** Tokens per iteration, decode tokens included (defaults to the chunk size, as Sarathi-Serve). */
    token_budget: z.number().int().positive().optional(),
  })
  .strict();

class HybridScheduler extends SingleStreamRunner {
  constructor(
    ctx: PolicyContext,
    rep: Replica,
    costs: IterationCostModel,
    readonly chunk: number,
    readonly budget: number,
  ) {
    super(ctx, rep, costs);
  }

  override nextBatch(nowNs: number): Batch | undefined {
    const rep = this.rep;
    const b = emptyBatch();
    b.extraNs = swapIn(this.ctx, rep, nowNs) + reserveDecodeSlots(this.ctx, rep, nowNs);
    b.decode = rep.decoding.slice();
    addPrefillChunks(this.ctx, rep, b, nowNs, this.budget - b.decode.length, this.chunk);
    // A budget below the decode count still lets a lone prompt advance (never starve prefill forever).
    if (b.prefill.length === 0 && b.decode.length === 0) {
      const r = rep.prefilling[0] ?? admitHead(this.ctx, rep, nowNs);
      if (!r) return undefined;
      b.prefill.push(r);
      b.chunks.push(Math.min(r.prefillRemaining, this.chunk));
    }
    return b;
  }
}

registerPolicy({
  name: 'hybrid',
  description: 'chunked prefill (Sarathi-Serve / vLLM): decode tokens plus prefill chunks under a token budget',
  options,
  create: (ctx: PolicyContext, o: z.infer<typeof options>) =>
    new ReplicaPool(ctx, (rep) => new HybridScheduler(ctx, rep, ctx.costs, o.chunk, o.token_budget ?? o.chunk)),
});
