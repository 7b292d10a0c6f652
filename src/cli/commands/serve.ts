import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { knownFields } from '../../core/known-fields.js';
import { checkOutputPath, OutputSet, toCsv } from '../../core/io.js';
import { toYaml } from '../../core/yaml-config.js';
import { DTYPES } from '../../hw/config/schema.js';
import { makeProgress } from '../../sweep/progress.js';
import { policyKind, policyNames } from '../../sw/serving/policy.js';
import { GOODPUT_MAX_PROBES, goodputOf, parseServeConfig, resolveServe, runServe, type ServeConfig, type ServeOutcome } from '../../sw/serving/serve.js';
import { MAX_SERVE_REQUESTS, workloadNames } from '../../sw/serving/workloads.js';
import type { SteadyPlan } from '../../sw/serving/steady-state.js';
import '../../sw/serving/policies/index.js';
import { flagNumber, numberFlag, printJson, printTable, type NumberFlag } from '../common.js';
import { listModels } from '../../sw/models/index.js';

interface ServeArgs {
  model: string;
  hw: string;
  set?: string[];
  gpus: NumberFlag;
  tp: NumberFlag;
  policy: string;
  workload?: string;
  trace?: string;
  rate?: NumberFlag;
  requests: NumberFlag;
  seed: NumberFlag;
  dtype: string;
  kvDtype?: string;
  batch?: NumberFlag;
  inputLen?: NumberFlag;
  outputLen?: NumberFlag;
  json: boolean;
  out?: string;
  goodput: boolean;
  steadyState?: boolean;
  chunk?: NumberFlag;
  tokenBudget?: NumberFlag;
  prefillGpus?: NumberFlag;
  decodeGpus?: NumberFlag;
  prefillMaxTokens?: NumberFlag;
  kvReceive?: string;
  firstToken?: string;
  kvTransferOverheadUs?: NumberFlag;
  armMode?: string;
  switchCostUs?: NumberFlag;
  preemption: string;
  maxSeqs: NumberFlag;
  arrival?: string;
  arrivalCv?: NumberFlag;
  itlSloMs?: NumberFlag;
  sloShare: NumberFlag;
  hostIterationUs?: NumberFlag;
  hostSequenceUs?: NumberFlag;
  hostOverlapped?: boolean;
}

const num = (describe: string, defaultValue?: number) => numberFlag(describe, defaultValue === undefined ? {} : { default: defaultValue });

/**
 * `silica serve`: one LLM serving simulation (or a goodput search, or an offline batch) on a node,
 * printing latency percentiles, throughput and SLO attainment; `--out` adds the per-request CSV, a
 * Chrome trace of the GPU streams and the resolved config.
 */
export const serveCommand: CommandModule = {
  command: 'serve',
  describe: `simulate LLM serving (${policyNames().join(' | ')}) on a node: latency, throughput, SLOs, goodput`,
  builder: (y) =>
    y
      .option('model', { type: 'string', default: 'llama3.1-70b', describe: `model from the zoo: ${listModels().join(' | ')}` })
      .option('hw', { type: 'string', default: 'mi300x', describe: 'hardware preset name or YAML path' })
      .option('set', { type: 'string', array: true, describe: 'override a hardware field, e.g. --set memory.hbm.efficiency=0.8' })
      .option('gpus', num('GPUs of the node to serve on', 8))
      .option('tp', num('tensor-parallel width of a replica', 8))
      .option('policy', { type: 'string', default: 'rapid', describe: `scheduling policy: ${policyNames().join(' | ')}` })
      .option('workload', { type: 'string', describe: `request mix: ${workloadNames().join(' | ')} (default: lmsys)` })
      .option('trace', { type: 'string', describe: 'request trace CSV/JSONL (Azure, splitwise, arXiv-lengths or JSONL format) instead of --workload' })
      .option('rate', num('mean requests per second of the --arrival process (Poisson by default), for a synthetic workload; a timestamped trace is rescaled to it'))
      .option('requests', num('requests to simulate (a trace: its first N)', 1000))
      .option('seed', num('random seed (same seed, same outputs)', 1))
      .option('dtype', { type: 'string', default: 'bf16', describe: `weights/activations dtype: ${DTYPES.join(' | ')}` })
      .option('kv-dtype', { type: 'string', describe: 'KV-cache dtype (default: --dtype)' })
      .option('batch', num('offline batch: this many requests at t = 0 (with --input-len, --output-len)'))
      .option('input-len', num('offline batch: prompt tokens per request'))
      .option('output-len', num('offline batch: output tokens per request'))
      .option('goodput', { type: 'boolean', default: false, describe: 'search the highest rate meeting the SLOs for --slo-share of requests' })
      .option('steady-state', {
        type: 'boolean',
        describe: 'measure the --requests in steady state: warm-up arrivals before them, cool-down arrivals after (default: on with --goodput, off otherwise)',
      })
      .option('chunk', num('hybrid: prefill chunk (tokens)'))
      .option('token-budget', num('hybrid: tokens per iteration (default: --chunk)'))
      .option('prefill-gpus', num('disagg: GPUs of the prefill pool (default what --decode-gpus leaves, else half)'))
      .option('decode-gpus', num('disagg: GPUs of the decode pool (default the rest)'))
      .option('prefill-max-tokens', num('rapid, disagg: most prompt tokens per prefill iteration'))
      .option('kv-receive', { type: 'string', describe: 'disagg: async (decode keeps running while KV arrives) | blocking (a decode replica waits for the KV it takes in)' })
      .option('first-token', { type: 'string', describe: "disagg: where the client's first token comes from: prefill | decode (after the KV transfer)" })
      .option('kv-transfer-overhead-us', num('disagg: software time per request before its KV moves (us; none by default)'))
      .option('arm-mode', { type: 'string', describe: 'rapid: adaptive | unmasked | split' })
      .option('switch-cost-us', num('rapid: cost of an ARM mask switch per stream (us)'))
      .option('preemption', { type: 'string', default: 'recompute', describe: 'when KV runs out: recompute | swap' })
      .option('max-seqs', num('most requests in a batch (vLLM max_num_seqs)', 256))
      .option('host-iteration-us', num("the engine's host time per iteration: scheduling, inputs, launch (us; none by default)"))
      .option('host-sequence-us', num("the engine's host time per request in an iteration (us; none by default)"))
      .option('host-overlapped', { type: 'boolean', describe: "the host prepares the next iteration during this one's GPU work (asynchronous scheduling) instead of before it" })
      .option('arrival', { type: 'string', describe: 'arrival process: poisson | gamma (gaps of CV --arrival-cv) | burst' })
      .option('arrival-cv', num('gamma arrivals: coefficient of variation of the gaps (default 2; 1 is Poisson)'))
      .option('itl-slo-ms', num('ITL SLO (default 100 dense, 50 MoE)'))
      .option('slo-share', num('share of requests that must meet the SLOs (goodput)', 0.9))
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' })
      .option('out', { type: 'string', describe: 'directory for requests.csv, summary.json, trace.json (Chrome), config.resolved.yaml and arm_timeline.csv (rapid, where the ARM switched the CU split); with --goodput, config.resolved.yaml, goodput.json and goodput_probes.csv (a row per probed rate: docs/columns.md)' }),
  handler: (argv) => {
    const a = argv as unknown as ServeArgs;
    // Two sources of requests: the trace would win and the preset be ignored.
    if (a.workload !== undefined && a.trace !== undefined) throw new SilicaError(`--workload: not with --trace (the trace is the workload), got --workload ${a.workload} and --trace ${a.trace}`);
    // The CV shapes Gamma gaps only: with any other process it would be ignored.
    if (a.arrivalCv !== undefined && a.arrival !== 'gamma') throw new SilicaError(`--arrival-cv: expected with --arrival gamma, got ${a.arrival === undefined ? 'no --arrival' : `--arrival ${a.arrival}`}`);
    // Burst arrivals queue every request at t = 0: a rate would be ignored, and a goodput search
    // would report rates that no run used.
    if (a.arrival === 'burst' && a.rate !== undefined) throw new SilicaError(`--rate: not with --arrival burst (every request arrives at t = 0), got --rate ${a.rate}`);
    if (a.arrival === 'burst' && a.goodput) throw new SilicaError('--goodput: not with --arrival burst (every request arrives at t = 0: there is no rate to search)');
    const raw = configFromArgs(a);
    checkPolicyFlags(a.policy, raw.policy_options!);
    const config = parseServeConfig(raw, 'silica serve', flagOfField);
    const resolved = resolveServe(config);
    if (a.goodput && config.batch !== undefined) throw new SilicaError('--goodput: not with an offline --batch (the batch has no arrival rate)');
    // An offline batch is all its requests at t = 0, of the given lengths: flags that shape arrivals
    // or lengths would be silently ignored.
    if (config.batch !== undefined) {
      for (const [flag, value] of [['--workload', a.workload], ['--trace', a.trace], ['--rate', a.rate], ['--arrival', a.arrival]] as const) {
        if (value !== undefined) throw new SilicaError(`${flag}: not with an offline --batch (its requests all arrive at t = 0, with --input-len and --output-len)`);
      }
    }
    let result: ServeOutcome | undefined;
    let goodput: ReturnType<typeof goodputOf> | undefined;
    // A bad --out fails before the simulation; the folder comes with the first file and is taken back if anything fails.
    const outputs = new OutputSet();
    if (a.out !== undefined) outputs.directory(a.out, '--out');
    outputs.run(() => {
      const quiet = !process.stderr.isTTY;
      if (a.goodput) {
        const progress = makeProgress({ total: GOODPUT_MAX_PROBES, unit: 'probes', quiet });
        let n = 0;
        // Bracketing from a far start may take more probes than the budget (serve.ts: searchGoodput).
        goodput = goodputOf(resolved, { startRate: config.rate ?? 1, onProbe: (p) => progress.update(Math.min(++n, GOODPUT_MAX_PROBES), `rate ${p.rate_req_s.toPrecision(3)}: ${(p.slo_attainment * 100).toFixed(1)}%`) });
        progress.stop();
      } else {
        // The run's own total: a steady-state run waits for its warm-up requests too.
        let progress: ReturnType<typeof makeProgress> | undefined;
        result = runServe(resolved, {
          chromeTrace: a.out !== undefined,
          progress: (done, total) => {
            progress ??= makeProgress({ total, unit: 'requests', quiet: quiet || total < 2000 });
            progress.update(done);
          },
        });
        progress?.stop();
      }
      if (a.out !== undefined) writeOutputs(outputs, a.out, config, result, goodput);
    });
    // A steady state that could not draw the requests it planned (a short trace) measures requests
    // that meet a node still filling: say so, the summary's warmup_requests alone does not.
    const steady = result?.steady;
    if (steady && steady.plan.warmupRequests < steady.planned.warmupRequests) process.stderr.write(`silica serve: note: ${shortSteadyNote(steady.plan, steady.planned, config)}\n`);
    // GPUs that --tp (or disagg's pools) leave out still count in the node's utilisation and energy.
    const summary = result?.summary ?? goodput?.points[0]?.summary;
    const idle = summary ? Number(summary.gpus) - Number(summary.gpus_serving) : 0;
    if (idle > 0) {
      process.stderr.write(`silica serve: note: ${idle} of the ${String(summary!.gpus)} GPUs serve${idle === 1 ? 's' : ''} no replica (gpus_serving ${String(summary!.gpus_serving)}); idle, ${idle === 1 ? 'it counts' : 'they count'} in cu_util, hbm_util and the board energy\n`);
    }
    const figures = goodput ? { goodput_req_s: goodput.goodput_req_s, target_share: goodput.target_share, limited_by: goodput.limited_by, probes: goodput.points.map((p) => ({ rate_req_s: p.rate_req_s, slo_attainment: p.slo_attainment, ...(p.summary.sustained === undefined ? {} : { sustained: p.sustained }) })) } : result!.summary;
    if (a.json) printJson(figures);
    else if (goodput) {
      printTable([
        ['goodput_req_s', goodput.goodput_req_s],
        ['limited_by', goodput.limited_by || '(a lower bound: every probe met the SLOs)'],
        // A probe whose node fell behind the rate misses whatever its attainment (backlog.ts).
        ...goodput.points.map((p): [string, number] => [`attainment @ ${p.rate_req_s.toPrecision(4)} req/s${p.sustained ? '' : ' (not sustained)'}`, p.slo_attainment]),
      ]);
    } else printTable(Object.entries(result!.summary).filter((e): e is [string, string | number] => e[1] !== '' && !(typeof e[1] === 'number' && Number.isNaN(e[1]))));
  },
};

/** Why a steady-state run offered fewer requests than it planned, and what it ran instead. */
function shortSteadyNote(plan: SteadyPlan, planned: SteadyPlan, config: ServeConfig): string {
  const count = (p: SteadyPlan) => p.warmupRequests + p.measuredRequests + p.cooldownRequests;
  const offered = count(plan);
  const source = offered < Math.min(MAX_SERVE_REQUESTS, count(planned)) && config.trace ? `${config.trace} has ${offered} requests` : `a run holds at most ${MAX_SERVE_REQUESTS}`;
  return (
    `--steady-state: planned ${planned.warmupRequests} warm-up, ${planned.measuredRequests} measured and ${planned.cooldownRequests} cool-down requests (${planned.warmupS.toPrecision(3)} s each way at ${config.rate} req/s), ` +
    `but ${source}: ran ${plan.warmupRequests}, ${plan.measuredRequests} and ${plan.cooldownRequests}, so the first measured requests meet a node still filling`
  );
}

/** Config fields whose flag is not the field with dashes (max_seqs is --max-seqs; policy_options.chunk, --chunk). */
const FLAG_OF_FIELD: Record<string, string> = {
  hw_set: '--set',
  'slo.target_share': '--slo-share',
  'slo.itl_ms': '--itl-slo-ms',
  'policy_options.arm.mode': '--arm-mode',
  'policy_options.arm.switch_cost_us': '--switch-cost-us',
  'host_overhead.per_iteration_us': '--host-iteration-us',
  'host_overhead.per_sequence_us': '--host-sequence-us',
  'host_overhead.overlapped': '--host-overlapped',
};

/** The flag a config field was given as, for messages (the config's checks name fields). */
export function flagOfField(field: string): string {
  return FLAG_OF_FIELD[field] ?? `--${field.replace(/^policy_options\./, '').replace(/_/g, '-')}`;
}

/**
 * A policy flag the chosen --policy takes no option for (--chunk with disagg) is refused, naming
 * the policies that do take it; the policy's own check would name the schema's key.
 */
function checkPolicyFlags(policy: string, options: Record<string, unknown>): void {
  // An unknown --policy is left to the config's check, which lists the policies.
  if (!policyKind(policy)) return;
  const takes = (name: string, key: string) => knownFields(policyKind(name)!.options, {}, [])?.includes(key) ?? true;
  for (const [key, value] of Object.entries(options)) {
    if (takes(policy, key)) continue;
    // The arm options are one key for two flags (--arm-mode, --switch-cost-us).
    const field = key === 'arm' ? `arm.${Object.keys(value as object)[0]}` : key;
    const takers = policyNames().filter((name) => takes(name, key));
    throw new SilicaError(`${flagOfField(`policy_options.${field}`)}: expected with --policy ${takers.join(' or ')}, got --policy ${policy}`);
  }
}

function configFromArgs(a: ServeArgs): Partial<ServeConfig> {
  const po: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => {
    if (v !== undefined) po[k] = v;
  };
  put('chunk', flagNumber('chunk', a.chunk));
  put('token_budget', flagNumber('token-budget', a.tokenBudget));
  put('prefill_gpus', flagNumber('prefill-gpus', a.prefillGpus));
  put('decode_gpus', flagNumber('decode-gpus', a.decodeGpus));
  put('prefill_max_tokens', flagNumber('prefill-max-tokens', a.prefillMaxTokens));
  put('kv_receive', a.kvReceive);
  put('first_token', a.firstToken);
  put('kv_transfer_overhead_us', flagNumber('kv-transfer-overhead-us', a.kvTransferOverheadUs));
  const arm: Record<string, unknown> = {};
  if (a.armMode !== undefined) arm.mode = a.armMode;
  if (a.switchCostUs !== undefined) arm.switch_cost_us = flagNumber('switch-cost-us', a.switchCostUs);
  if (Object.keys(arm).length) po.arm = arm;
  return {
    model: a.model,
    hw: a.hw,
    hw_set: a.set ?? [],
    gpus: flagNumber('gpus', a.gpus),
    tp: flagNumber('tp', a.tp),
    policy: a.policy,
    policy_options: po,
    workload: a.workload,
    trace: a.trace,
    rate: flagNumber('rate', a.rate),
    arrival: a.arrival as ServeConfig['arrival'],
    arrival_cv: flagNumber('arrival-cv', a.arrivalCv),
    requests: flagNumber('requests', a.requests),
    steady_state: a.steadyState,
    seed: flagNumber('seed', a.seed),
    dtype: a.dtype as ServeConfig['dtype'],
    kv_dtype: a.kvDtype as ServeConfig['kv_dtype'],
    preemption: a.preemption as ServeConfig['preemption'],
    max_seqs: flagNumber('max-seqs', a.maxSeqs),
    batch: flagNumber('batch', a.batch),
    input_len: flagNumber('input-len', a.inputLen),
    output_len: flagNumber('output-len', a.outputLen),
    slo: { itl_ms: flagNumber('itl-slo-ms', a.itlSloMs), target_share: flagNumber('slo-share', a.sloShare) } as ServeConfig['slo'],
    host_overhead: {
      per_iteration_us: flagNumber('host-iteration-us', a.hostIterationUs),
      per_sequence_us: flagNumber('host-sequence-us', a.hostSequenceUs),
      overlapped: a.hostOverlapped,
    } as ServeConfig['host_overhead'],
  };
}

/** Every file is checked before the first is written: a bad one (say trace.json a folder) leaves none. */
function writeOutputs(outputs: OutputSet, dir: string, config: ServeConfig, result?: ServeOutcome, goodput?: ReturnType<typeof goodputOf>): void {
  const files: Array<[string, () => string]> = [['config.resolved.yaml', () => toYaml(config)]];
  if (result) {
    const { chromeTrace, timeline } = result;
    files.push(['summary.json', () => JSON.stringify(result.summary, null, 2) + '\n'], ['requests.csv', () => toCsv(result.requests)]);
    if (chromeTrace) files.push(['trace.json', () => chromeTrace.toJson({ model: config.model, policy: config.policy, hw: config.hw })]);
    if (timeline?.length) files.push(['arm_timeline.csv', () => toCsv(timeline)]);
  }
  if (goodput) {
    const g = goodput;
    files.push(
      ['goodput.json', () => JSON.stringify({ goodput_req_s: g.goodput_req_s, target_share: g.target_share, limited_by: g.limited_by }, null, 2) + '\n'],
      ['goodput_probes.csv', () => toCsv(g.points.map((p) => ({ rate_req_s: p.rate_req_s, slo_attainment: p.slo_attainment, meets: p.meets ? 1 : 0, ...p.summary })))],
    );
  }
  for (const [name] of files) checkOutputPath(join(dir, name), '--out');
  for (const [name, text] of files) outputs.write(join(dir, name), text(), '--out');
}
