import { SilicaError } from '../../../core/errors.js';
import { tpSplitProblem } from '../../graph/shard.js';
import type { PolicyNode } from '../policy.js';

/**
 * How `disagg` (./disagg.ts) divides a node between its prefill and decode pools: the pools' sizes
 * and tensor-parallel widths from the policy's options, each problem named by the flag that set the
 * number at fault.
 */
export interface PoolOptions {
  prefill_gpus?: number;
  decode_gpus?: number;
  prefill_tp?: number;
  decode_tp?: number;
}

/** GPUs and tensor-parallel width of each pool. */
export interface DisaggPools {
  prefillGpus: number;
  decodeGpus: number;
  prefillTp: number;
  decodeTp: number;
}

/**
 * Splits the node's GPUs between the pools. A pool size left out is derived (the one given leaves
 * the rest to the other; neither given: half the node each, prefill taking the smaller half) and a
 * pool's TP width defaults to the smaller of --tp and its size, so a bad pool can come from a
 * number the user never typed: each problem is named by the flag that set the number (a pool of 0
 * GPUs would otherwise surface as a crash in the first request's routing).
 */
export function splitPools(node: PolicyNode, o: PoolOptions): DisaggPools {
  const { gpus } = node;
  if (gpus < 2) throw new SilicaError(`--gpus: expected at least 2 for disagg (one for each pool, prefill and decode), got ${gpus}`);
  if (o.prefill_gpus === undefined && o.decode_gpus !== undefined && o.decode_gpus >= gpus) {
    throw new SilicaError(`--decode-gpus: expected at most ${gpus - 1} (the prefill pool needs at least one of the ${gpus} GPUs), got ${o.decode_gpus}`);
  }
  const prefillGpus = o.prefill_gpus ?? (o.decode_gpus !== undefined ? gpus - o.decode_gpus : Math.floor(gpus / 2));
  if (prefillGpus >= gpus) throw new SilicaError(`--prefill-gpus: expected at most ${gpus - 1} (the decode pool needs at least one of the ${gpus} GPUs), got ${prefillGpus}`);
  const decodeGpus = o.decode_gpus ?? gpus - prefillGpus;
  if (prefillGpus + decodeGpus > gpus) {
    throw new SilicaError(`--decode-gpus: expected at most ${gpus - prefillGpus} (what the prefill pool's ${prefillGpus} leave of the ${gpus} GPUs), got ${decodeGpus}`);
  }
  // A pool's size comes from its own flag, or from the other pool's flag (what it leaves), or
  // from --gpus (half each).
  const given = (flag: string, value: number | undefined) => (value !== undefined ? { flag, value } : undefined);
  const byGpus = { flag: '--gpus', value: gpus };
  const prefillFrom = given('--prefill-gpus', o.prefill_gpus) ?? given('--decode-gpus', o.decode_gpus) ?? byGpus;
  const decodeFrom = given('--decode-gpus', o.decode_gpus) ?? given('--prefill-gpus', o.prefill_gpus) ?? byGpus;
  return {
    prefillGpus,
    decodeGpus,
    prefillTp: poolTp(node, { pool: 'prefill', gpus: prefillGpus, ...prefillFrom }, o.prefill_tp, '--prefill-tp'),
    decodeTp: poolTp(node, { pool: 'decode', gpus: decodeGpus, ...decodeFrom }, o.decode_tp, '--decode-tp'),
  };
}

/** A pool's size and the flag (and value) it came from. */
interface PoolSize {
  pool: string;
  gpus: number;
  flag: string;
  value: number;
}

/** A pool's TP width: its own option, else --tp capped at the pool's size; checked against the pool and the model. */
function poolTp(node: PolicyNode, size: PoolSize, given: number | undefined, tpFlag: string): number {
  const tp = given ?? Math.min(node.tp, size.gpus);
  if (size.gpus % tp) {
    if (given !== undefined) throw new SilicaError(`${tpFlag}: expected a divisor of the ${size.pool} pool's ${size.gpus} GPUs, got ${tp}`);
    throw new SilicaError(`${size.flag} ${size.value}: the ${size.pool} pool's ${size.gpus} GPUs do not split into TP groups of ${tp}`);
  }
  const problem = tpSplitProblem(node.model, tp);
  if (problem) {
    const [flag, value] = given !== undefined ? [tpFlag, tp] : tp < node.tp ? [size.flag, size.value] : ['--tp', node.tp];
    throw new SilicaError(`${flag} ${value}: the ${size.pool} pool of ${size.gpus} GPUs gets TP width ${tp}, and ${problem}`);
  }
  return tp;
}
