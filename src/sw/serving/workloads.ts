import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { SilicaError } from '../../core/errors.js';
import { packageRoot } from '../../core/paths.js';
import { Rng } from '../../core/rng.js';
import { arrivalNsOf, loadRequestFile, requestsFromTrace, type RequestSpec } from './requests.js';

/**
 * Workloads: an arrival process and prompt/output length distributions, or a trace file.
 *
 * Presets approximate the request mixes of the published concurrent prefill/decode study
 * (mission §1: LMSYS ~2K-token prompts, arXiv summarisation ~8K, LooGLE ~20K). The study's exact
 * length distributions are not public; each preset is a clipped lognormal whose parameters and
 * basis are stated next to it, so a reader can tell an assumption from a measurement.
 */
export type LengthDist =
  | { kind: 'fixed'; tokens: number }
  /** exp(N(ln median, sigma)), rounded, clipped to [min, max]. Mean = median * exp(sigma^2 / 2). */
  | { kind: 'lognormal'; median: number; sigma: number; min: number; max: number }
  | { kind: 'uniform'; min: number; max: number };

export type ArrivalProcess =
  | { kind: 'poisson' }
  /** Gamma inter-arrival gaps with coefficient of variation `cv` (cv = 1 is Poisson; > 1 is bursty). */
  | { kind: 'gamma'; cv: number }
  /** All requests at t = 0 (offline batch / unconstrained throughput). */
  | { kind: 'burst' };

export interface SyntheticWorkload {
  kind: 'synthetic';
  name: string;
  prompt: LengthDist;
  output: LengthDist;
  arrival: ArrivalProcess;
}

export interface TraceWorkload {
  kind: 'trace';
  name: string;
  /** Path to a CSV/JSONL trace (absolute, or relative to the package's data/requests). */
  file: string;
  arrival: ArrivalProcess;
}

export type Workload = SyntheticWorkload | TraceWorkload;

export const WORKLOAD_PRESETS: Record<string, Workload> = {
  /**
   * LMSYS-style chat with ~2K-token prompts, as the published study describes its LMSYS mix
   * (prompt mean 1800 * exp(0.5^2/2) = 2040 tokens). Outputs: LMSYS-Chat-1M reports a mean
   * response of 214.5 tokens (Zheng et al. 2023, Table 1); median 150, sigma 0.85 gives mean 215.
   */
  lmsys: {
    kind: 'synthetic',
    name: 'lmsys',
    prompt: { kind: 'lognormal', median: 1800, sigma: 0.5, min: 128, max: 8192 },
    output: { kind: 'lognormal', median: 150, sigma: 0.85, min: 8, max: 2048 },
    arrival: { kind: 'poisson' },
  },
  /**
   * arXiv summarisation with ~8K-token prompts (the study's figure; full arXiv papers in the
   * Cohan et al. 2018 dataset are longer, the study truncates): mean 7500 * exp(0.4^2/2) = 8120.
   * Outputs follow the arXiv-summarisation lengths of vidur's processed stats file (Llama-2
   * tokenizer): median 167, mean 291 -> median 170, sigma 1.05 (mean 295).
   */
  arxiv: {
    kind: 'synthetic',
    name: 'arxiv',
    prompt: { kind: 'lognormal', median: 7500, sigma: 0.4, min: 2048, max: 16384 },
    output: { kind: 'lognormal', median: 170, sigma: 1.05, min: 16, max: 2048 },
    arrival: { kind: 'poisson' },
  },
  /**
   * LooGLE long-document QA and summarisation with ~20K-token prompts (the study's figure):
   * mean 19500 * exp(0.25^2/2) = 20120, clipped below Mixtral-8x7B's 32K context. Outputs are
   * short answers and summaries: median 80, sigma 0.8 (mean 110) [U: assumed, LooGLE's answers
   * are mostly one or two sentences].
   */
  loogle: {
    kind: 'synthetic',
    name: 'loogle',
    prompt: { kind: 'lognormal', median: 19500, sigma: 0.25, min: 8192, max: 30000 },
    output: { kind: 'lognormal', median: 80, sigma: 0.8, min: 8, max: 1024 },
    arrival: { kind: 'poisson' },
  },
  /** The Azure LLM inference trace 2023, conversation (shipped in data/requests, CC-BY 4.0). */
  'azure-conv': { kind: 'trace', name: 'azure-conv', file: 'AzureLLMInferenceTrace_conv.csv', arrival: { kind: 'poisson' } },
  /**
   * The same trace's code-completion service: longer prompts (mean 2048 tokens), very short
   * outputs (median 13) and bursty arrivals (inter-arrival CV 13.2 over the hour), the regime where
   * prefill dominates and a burst of prompts lands on decode's ITL at once.
   */
  'azure-code': { kind: 'trace', name: 'azure-code', file: 'AzureLLMInferenceTrace_code.csv', arrival: { kind: 'poisson' } },
  /**
   * Measured arXiv-summarisation lengths (vidur's stats file, Llama-2 tokenizer, filtered to at most
   * 4096 tokens in all: prompt mean 2588, output mean 291), in file order, with Poisson arrivals at
   * --rate. A real length distribution beside the synthetic `arxiv`, whose ~8K prompts follow the
   * study's description instead of this filtered set.
   */
  'arxiv-lengths': { kind: 'trace', name: 'arxiv-lengths', file: 'arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv', arrival: { kind: 'poisson' } },
};

export function workloadNames(): string[] {
  return Object.keys(WORKLOAD_PRESETS);
}

export function workloadPreset(name: string): Workload {
  const w = WORKLOAD_PRESETS[name];
  if (!w) throw new SilicaError(`--workload: unknown workload "${name}" (expected one of ${workloadNames().join(', ')}, or --trace FILE)`);
  return w;
}

/**
 * A trace file by the name the user gave: that path, or, for a bare name not found there, the file
 * shipped in data/requests. Missing from both, the message names the name given and both places.
 */
export function dataFile(name: string): string {
  const found = findRequestFile(name);
  if (!found) throw new SilicaError(`${name}: cannot read request trace: no such file (nor in ${shippedRequestDir()})`, { file: name });
  return found;
}

const shippedRequestDir = () => join(packageRoot(), 'data', 'requests');

/**
 * Where a request trace named `name` is: a path (holding a slash) as given, relative to `dir`
 * when one is given (an experiment file's folder); a bare name there when a file of that name is,
 * else the trace of that name shipped in data/requests; undefined when neither has it.
 */
export function findRequestFile(name: string, dir?: string): string | undefined {
  const here = dir === undefined || isAbsolute(name) ? name : join(dir, name);
  if (name.includes('/') || existsSync(here)) return here;
  const shipped = join(shippedRequestDir(), name);
  return existsSync(shipped) ? shipped : undefined;
}

export function sampleLength(d: LengthDist, rng: Rng): number {
  switch (d.kind) {
    case 'fixed':
      return d.tokens;
    case 'uniform':
      return d.min + Math.floor(rng.uniform() * (d.max - d.min + 1));
    case 'lognormal': {
      const v = Math.round(rng.lognormal(Math.log(d.median), d.sigma));
      return Math.min(d.max, Math.max(d.min, v));
    }
  }
}

/** Arrival times (s) of n requests at `ratePerS`. Named RNG stream: adding lengths never shifts arrivals. */
export function sampleArrivalsS(process: ArrivalProcess, ratePerS: number, n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  if (process.kind === 'burst') return out;
  if (!(ratePerS > 0)) throw new SilicaError(`--rate: expected requests per second > 0, got ${ratePerS}`);
  const rng = new Rng(seed, 'serving.arrivals');
  let t = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      if (process.kind === 'poisson') t += rng.exponential(ratePerS);
      else {
        const shape = 1 / (process.cv * process.cv);
        t += rng.gamma(shape, 1 / (ratePerS * shape));
      }
    }
    out[i] = t;
  }
  return out;
}

export interface WorkloadOptions {
  /** Requests per second; for a timestamped trace, rescales its time axis to this mean rate. */
  ratePerS?: number;
  requests: number;
  seed: number;
  /** Overrides the preset's arrival process (e.g. `burst` for an offline batch). */
  arrival?: ArrivalProcess;
}

/**
 * Most requests one serving run simulates (--requests, --batch and the `requests` fields). Every
 * request keeps its state and its output row until the run ends, about 4 KB each: measured on the
 * rapid policy at 2 req/s, 1e5 requests took ~35 s and 0.55 GB, 1e6 ~5.5 CPU-minutes and 4.4 GB
 * (near V8's default heap), and 1e8 died with a multi-line V8 heap out-of-memory after minutes of
 * work. The bound, half of what fitted, leaves room for the outputs (requests.csv, a Chrome trace)
 * and turns the failure into a one-line error before the run starts.
 */
export const MAX_SERVE_REQUESTS = 500_000;

/** Requests of a workload, deterministic for a seed. */
export function generateRequests(w: Workload, o: WorkloadOptions): RequestSpec[] {
  if (!Number.isInteger(o.requests) || o.requests < 1) throw new SilicaError(`--requests: expected a positive whole number, got ${o.requests}`);
  if (o.requests > MAX_SERVE_REQUESTS) throw new SilicaError(`--requests: expected at most ${MAX_SERVE_REQUESTS}, got ${o.requests}`);
  const arrival = o.arrival ?? w.arrival;
  if (w.kind === 'trace') {
    const trace = loadRequestFile(dataFile(w.file), o.requests);
    // A trace's own timestamps are its arrivals (rescaled by --rate): only burst replaces them, so a
    // Poisson or Gamma process asked for beside them would be silently ignored.
    if (trace.arrivalS && o.arrival && o.arrival.kind !== 'burst') {
      throw new SilicaError(`--arrival ${o.arrival.kind}: not with ${w.file}, whose timestamps are its arrivals (--rate rescales them; --arrival burst queues every request at t = 0)`);
    }
    const needSynthetic = !trace.arrivalS || arrival.kind === 'burst';
    if (needSynthetic && arrival.kind !== 'burst' && o.ratePerS === undefined) {
      throw new SilicaError(`${w.file}: has no arrival times; give --rate for synthetic ${arrival.kind} arrivals`);
    }
    const arrivalsS = needSynthetic ? sampleArrivalsS(arrival, o.ratePerS ?? 1, trace.promptTokens.length, o.seed) : undefined;
    return requestsFromTrace(trace, { ratePerS: o.ratePerS, arrivalsS });
  }
  if (o.ratePerS === undefined && arrival.kind !== 'burst') throw new SilicaError('--rate: expected requests per second for a synthetic workload');
  const arrivals = sampleArrivalsS(arrival, o.ratePerS ?? 1, o.requests, o.seed);
  const pr = new Rng(o.seed, 'serving.prompt');
  const or = new Rng(o.seed, 'serving.output');
  const out: RequestSpec[] = new Array(o.requests);
  for (let i = 0; i < o.requests; i++) {
    out[i] = { id: i, arrivalNs: arrivalNsOf(arrivals[i]!, o.ratePerS), promptTokens: sampleLength(w.prompt, pr), outputTokens: sampleLength(w.output, or) };
  }
  return out;
}
