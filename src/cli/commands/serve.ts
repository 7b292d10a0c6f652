import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { toCsv, writeFileAtomic } from '../../core/io.js';
import { toYaml } from '../../core/yaml-config.js';
import { makeProgress } from '../../sweep/progress.js';
import { policyNames } from '../../sw/serving/policy.js';
import { goodputOf, parseServeConfig, resolveServe, runServe, type GoodputResult, type ServeConfig, type ServeOutcome } from '../../sw/serving/serve.js';
import { workloadNames } from '../../sw/serving/workloads.js';
import '../../sw/serving/policies/index.js';
import { printJson, printTable } from '../common.js';

interface ServeArgs {
  model: string;
  hw: string;
  set?: string[];
  gpus: number;
  tp: number;
  policy: string;
  workload: string;
  trace?: string;
  rate?: number;
  requests: number;
  seed: number;
  dtype: string;
  kvDtype?: string;
  batch?: number;
  inputLen?: number;
  outputLen?: number;
  json: boolean;
  out?: string;
  goodput: boolean;
  chunk?: number;
  tokenBudget?: number;
  prefillGpus?: number;
  decodeGpus?: number;
  prefillMaxTokens?: number;
  armMode?: string;
  switchCostUs?: number;
  preemption: string;
  maxSeqs: number;
  arrival?: string;
  itlSloMs?: number;
  sloShare: number;
}

const num = (describe: string) => ({ type: 'number' as const, describe });

/**
 * `silica serve`: one LLM serving simulation (or a goodput search, or an offline batch) on a node,
 * printing latency percentiles, throughput and SLO attainment; `--out` adds the per-request CSV, a
 * Chrome trace of the GPU streams and the resolved config.
 */
export const serveCommand: CommandModule = {
  command: 'serve',
  describe: 'simulate LLM serving (continuous | hybrid | disagg | rapid) on a node: latency, throughput, SLOs, goodput',
  builder: (y) =>
    y
      .option('model', { type: 'string', default: 'llama3.1-70b', describe: 'model from the zoo' })
      .option('hw', { type: 'string', default: 'mi300x', describe: 'hardware preset name or YAML path' })
      .option('set', { type: 'string', array: true, describe: 'override a hardware field, e.g. --set memory.hbm.efficiency=0.8' })
      .option('gpus', { type: 'number', default: 8, describe: 'GPUs of the node to serve on' })
      .option('tp', { type: 'number', default: 8, describe: 'tensor-parallel width of a replica' })
      .option('policy', { type: 'string', default: 'rapid', describe: `scheduling policy: ${policyNames().join(' | ')}` })
      .option('workload', { type: 'string', default: 'lmsys', describe: `request mix: ${workloadNames().join(' | ')}` })
      .option('trace', { type: 'string', describe: 'request trace CSV/JSONL (Azure, splitwise, arXiv-lengths or JSONL format) instead of --workload' })
      .option('rate', num('requests per second (Poisson arrivals; rescales a trace to this mean rate)'))
      .option('requests', { type: 'number', default: 1000, describe: 'requests to simulate (a trace: its first N)' })
      .option('seed', { type: 'number', default: 1, describe: 'random seed (same seed, same outputs)' })
      .option('dtype', { type: 'string', default: 'bf16', describe: 'weights/activations dtype: fp16 | bf16 | fp8' })
      .option('kv-dtype', { type: 'string', describe: 'KV-cache dtype (default: --dtype)' })
      .option('batch', num('offline batch: this many requests at t = 0 (with --input-len, --output-len)'))
      .option('input-len', num('offline batch: prompt tokens per request'))
      .option('output-len', num('offline batch: output tokens per request'))
      .option('goodput', { type: 'boolean', default: false, describe: 'search the highest rate meeting the SLOs for --slo-share of requests' })
      .option('chunk', num('hybrid: prefill chunk (tokens)'))
      .option('token-budget', num('hybrid: tokens per iteration (default: --chunk)'))
      .option('prefill-gpus', num('disagg: GPUs of the prefill pool (default half)'))
      .option('decode-gpus', num('disagg: GPUs of the decode pool (default the rest)'))
      .option('prefill-max-tokens', num('rapid, disagg: most prompt tokens per prefill iteration'))
      .option('arm-mode', { type: 'string', describe: 'rapid: adaptive | unmasked | split' })
      .option('switch-cost-us', num('rapid: cost of an ARM mask switch per stream (us)'))
      .option('preemption', { type: 'string', default: 'recompute', describe: 'when KV runs out: recompute | swap' })
      .option('max-seqs', { type: 'number', default: 256, describe: 'most requests in a batch (vLLM max_num_seqs)' })
      .option('arrival', { type: 'string', describe: 'arrival process: poisson | gamma | burst' })
      .option('itl-slo-ms', num('ITL SLO (default 100 dense, 50 MoE)'))
      .option('slo-share', { type: 'number', default: 0.9, describe: 'share of requests that must meet the SLOs (goodput)' })
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' })
      .option('out', { type: 'string', describe: 'directory for requests.csv, summary.json, trace.json (Chrome) and config.resolved.yaml' }),
  handler: (argv) => {
    const a = argv as unknown as ServeArgs;
    const config = parseServeConfig(configFromArgs(a), 'silica serve');
    const resolved = resolveServe(config);
    if (a.goodput && config.batch !== undefined) throw new SilicaError('--goodput: not with an offline --batch (the batch has no arrival rate)');
    let result: ServeOutcome | undefined;
    let goodput: GoodputResult | undefined;
    const quiet = !process.stderr.isTTY;
    if (a.goodput) {
      const progress = makeProgress({ total: 14, unit: 'probes', quiet });
      let n = 0;
      goodput = goodputOf(resolved, { startRate: config.rate ?? 1, onProbe: (p) => progress.update(++n, `rate ${p.rate_req_s.toPrecision(3)}: ${(p.slo_attainment * 100).toFixed(1)}%`) });
      progress.stop();
    } else {
      const total = config.batch ?? config.requests;
      const progress = makeProgress({ total, unit: 'requests', quiet: quiet || total < 2000 });
      result = runServe(resolved, { chromeTrace: a.out !== undefined, progress: (d) => progress.update(d) });
      progress.stop();
    }
    if (a.out) writeOutputs(a.out, config, result, goodput);
    const figures = goodput ? { goodput_req_s: goodput.goodput_req_s, target_share: goodput.target_share, probes: goodput.points.map((p) => ({ rate_req_s: p.rate_req_s, slo_attainment: p.slo_attainment })) } : result!.summary;
    if (a.json) printJson(figures);
    else if (goodput) {
      printTable([
        ['goodput_req_s', goodput.goodput_req_s],
        ...goodput.points.map((p): [string, number] => [`attainment @ ${p.rate_req_s.toPrecision(4)} req/s`, p.slo_attainment]),
      ]);
    } else printTable(Object.entries(result!.summary).filter((e): e is [string, string | number] => e[1] !== '' && !(typeof e[1] === 'number' && Number.isNaN(e[1]))));
  },
};

function configFromArgs(a: ServeArgs): Partial<ServeConfig> {
  const po: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => {
    if (v !== undefined) po[k] = v;
  };
  put('chunk', a.chunk);
  put('token_budget', a.tokenBudget);
  put('prefill_gpus', a.prefillGpus);
  put('decode_gpus', a.decodeGpus);
  put('prefill_max_tokens', a.prefillMaxTokens);
  const arm: Record<string, unknown> = {};
  if (a.armMode !== undefined) arm.mode = a.armMode;
  if (a.switchCostUs !== undefined) arm.switch_cost_us = a.switchCostUs;
  if (Object.keys(arm).length) po.arm = arm;
  return {
    model: a.model,
    hw: a.hw,
    hw_set: a.set ?? [],
    gpus: a.gpus,
    tp: a.tp,
    policy: a.policy,
    policy_options: po,
    workload: a.workload,
    trace: a.trace,
    rate: a.rate,
    arrival: a.arrival as ServeConfig['arrival'],
    requests: a.requests,
    seed: a.seed,
    dtype: a.dtype as ServeConfig['dtype'],
    kv_dtype: a.kvDtype as ServeConfig['kv_dtype'],
    preemption: a.preemption as ServeConfig['preemption'],
    max_seqs: a.maxSeqs,
    batch: a.batch,
    input_len: a.inputLen,
    output_len: a.outputLen,
    slo: { itl_ms: a.itlSloMs, target_share: a.sloShare } as ServeConfig['slo'],
  };
}

function writeOutputs(dir: string, config: ServeConfig, result?: ServeOutcome, goodput?: GoodputResult): void {
  writeFileAtomic(join(dir, 'config.resolved.yaml'), toYaml(config));
  if (result) {
    writeFileAtomic(join(dir, 'summary.json'), JSON.stringify(result.summary, null, 2) + '\n');
    writeFileAtomic(join(dir, 'requests.csv'), toCsv(result.requests));
    if (result.chromeTrace) writeFileAtomic(join(dir, 'trace.json'), result.chromeTrace.toJson({ model: config.model, policy: config.policy, hw: config.hw }));
    if (result.timeline?.length) writeFileAtomic(join(dir, 'arm_timeline.csv'), toCsv(result.timeline));
  }
  if (goodput) {
    writeFileAtomic(join(dir, 'goodput.json'), JSON.stringify({ goodput_req_s: goodput.goodput_req_s, target_share: goodput.target_share }, null, 2) + '\n');
    writeFileAtomic(join(dir, 'goodput_probes.csv'), toCsv(goodput.points.map((p) => ({ rate_req_s: p.rate_req_s, slo_attainment: p.slo_attainment, meets: p.meets ? 1 : 0, ...p.summary }))));
  }
}
