import type { RequestSpec } from './requests.js';

/**
 * A request's life inside the simulator. Mutable and plain on purpose: the event loop touches it
 * once per generated token.
 *
 * Token accounting (what the KV cache holds): prefill of P prompt tokens writes P KV entries and
 * samples output token 1; each decode step feeds the last token, writes one KV entry and samples
 * the next. So while decoding, kvTokens = P + generated - 1. A recompute preemption drops the KV;
 * the request is prefilled again over P + generated tokens, which samples the next token.
 */
export type ReqPhase = 'queued' | 'prefill' | 'transfer' | 'decode' | 'swapped' | 'done' | 'rejected';

export class Req {
  readonly id: number;
  readonly arrivalNs: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
  phase: ReqPhase = 'queued';
  /** Tokens this (re)prefill must process: the prompt, or prompt + generated after a recompute preemption. */
  prefillTarget: number;
  /** Tokens of the current prefill already processed (chunked prefill advances this). */
  prefilled = 0;
  generated = 0;
  firstTokenNs = -1;
  lastTokenNs = -1;
  finishNs = -1;
  itlSumNs = 0;
  itlMaxNs = 0;
  preemptions = 0;
  /** Replica (or decode replica, for disaggregated serving) that serves it. */
  replica = -1;
  rejectReason = '';
  /** Counted in the run's figures: false for a steady-state run's warm-up and cool-down load (steady-state.ts). */
  measured = true;

  constructor(spec: RequestSpec) {
    this.id = spec.id;
    this.arrivalNs = spec.arrivalNs;
    this.promptTokens = spec.promptTokens;
    this.outputTokens = spec.outputTokens;
    this.prefillTarget = spec.promptTokens;
  }

  /** KV entries held once the current prefill (or the last decode step) is done. */
  get kvTokens(): number {
    return this.phase === 'queued' || this.phase === 'prefill' ? this.prefilled : this.promptTokens + this.generated - 1;
  }

  /** Context the next decode step attends over (KV entries after it writes its own). */
  get decodeContext(): number {
    return this.promptTokens + this.generated;
  }

  get prefillRemaining(): number {
    return this.prefillTarget - this.prefilled;
  }

  get finished(): boolean {
    return this.generated >= this.outputTokens;
  }

  /** Total KV tokens the request will ever hold (for admission checks). */
  get peakKvTokens(): number {
    return this.promptTokens + this.outputTokens - 1;
  }
}
