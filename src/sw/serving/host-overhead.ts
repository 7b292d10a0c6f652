/**
 * The serving engine's own time on the host, per iteration: scheduling the batch, preparing its
 * inputs (block tables, positions, sampling parameters) and launching it. silica's iterations cost
 * their kernels and collectives; a real engine adds this CPU time, which weighs most on designs
 * that run many short iterations (chunked prefill's 512-token chunks, small decode steps).
 *
 * Two ways an engine spends it:
 * - synchronously (vLLM v0's scheduler): the host prepares an iteration after the previous one
 *   ends, and the GPU waits, so an iteration takes host + GPU time;
 * - overlapped (vLLM V1 and SGLang's asynchronous scheduling): the host prepares the next
 *   iteration while the GPU runs this one, so an iteration takes the longer of the two.
 *
 * No default is calibrated: the engine and host CPU decide it, so it is 0 (none) unless a config
 * gives it, a what-if to sweep (configs/sweeps/serve-host-overhead.yaml).
 */
export interface HostOverhead {
  /** Host time per iteration whatever its batch (ns). */
  perIterationNs: number;
  /** Host time per request in the batch (ns): its block table, positions, sampling. */
  perSequenceNs: number;
  /** Host work runs behind the previous iteration's GPU work instead of before this one's. */
  overlapped: boolean;
}

/** Host time of one iteration of `sequences` requests (ns). */
export function hostNs(h: HostOverhead, sequences: number): number {
  return h.perIterationNs + h.perSequenceNs * sequences;
}

/**
 * How long an iteration's GPU work waits for the host (ns): all of the host's time when it is
 * synchronous; when overlapped, only what the host needs beyond the GPU work it hides behind
 * (taken as this iteration's, alone), so that the iteration takes the longer of the two.
 */
export function hostPhaseNs(h: HostOverhead | undefined, gpuNs: number, sequences: number): number {
  if (!h) return 0;
  const host = hostNs(h, sequences);
  return h.overlapped ? Math.max(0, host - gpuNs) : host;
}
