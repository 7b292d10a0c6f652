import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { loadExperimentFile, runExperiment } from '../../src/sweep/experiment.js';
import { silica } from '../helpers/cli.js';
import { tableCsv, type Row } from '../../src/sweep/results.js';
import { goodputLimit } from '../../src/sw/serving/serve.js';

describe('serve experiment kind', () => {
  it('validates configs/experiments/rapid-serve.yaml', () => {
    const exp = loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'rapid-serve.yaml'));
    expect(exp.kind.name).toBe('serve');
  });

  it('names the baselines left out, not an entry the file does not hold, when the default names no policy of the study', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-serve-baselines-'));
    const file = join(dir, 'no-baselines.yaml');
    writeFileSync(file, 'kind: serve\nmodels: [llama2-7b]\nworkloads: [lmsys]\ngpus: 1\ntp: 1\npolicies:\n  - { name: rapid, policy: rapid }\n  - { name: c, policy: continuous }\n');
    expect(() => loadExperimentFile(file)).toThrow(
      /no-baselines\.yaml: baselines: expected the policies to compare rapid with, by name \(rapid, c\); the default, hybrid-512, disagg-4p4d, names policies this study does not have \(missing\)$/,
    );
  });

  it('refuses two policies of one name (they would be compared with each other)', () => {
    const load = () =>
      loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'rapid-serve.yaml'), [
        'policies=[{name: hybrid-512, policy: hybrid, options: {chunk: 512}}, {name: hybrid-512, policy: hybrid, options: {chunk: 2048}}, {name: rapid, policy: rapid}]',
        'baselines=[hybrid-512]',
      ]);
    expect(load).toThrow(/policies\.1\.name: expected a unique name, "hybrid-512" is also policies\.0\.name/);
  });

  it('refuses settings under serve that the study makes itself, which would override it silently', () => {
    const load = (serve: string, workloads = '[lmsys]') => () => loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'rapid-serve.yaml'), [`serve=${serve}`, `workloads=${workloads}`]);
    // serve.seed won over seed (and a sweep axis over it); serve.model ran under models' label.
    expect(load('{seed: 3}')).toThrow(/serve\.seed: not under serve \(the study sets it: seed\), got 3$/);
    expect(load('{model: llama2-7b}')).toThrow(/serve\.model: not under serve \(the study sets it: each entry of models\)/);
    // Every rate run was a burst (or the rate ignored): the goodput search reported rates no run used.
    expect(load('{rate: 2}')).toThrow(/serve\.rate: not under serve \(the study sets every run's rate/);
    expect(load('{batch: 4, input_len: 8, output_len: 8}')).toThrow(/serve\.batch: not under serve \(the study runs arrivals at rates; an offline batch has none\)/);
    expect(load('{arrival: burst}')).toThrow(/serve\.arrival: expected poisson or gamma/);
    expect(load('{arrival: gamma}')).not.toThrow();
    expect(load('{trace: azure-conv.csv}', '[lmsys, arxiv]')).toThrow(/workloads: expected one entry with serve\.trace \(the trace is the workload: every entry would run it\), got a list of 2$/);
  });

  it("labels a request trace's rows with the trace, not the workloads entry it replaces", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-serve-trace-'));
    const file = join(dir, 'trace-study.yaml');
    writeFileSync(
      file,
      'kind: serve\nmodels: [llama2-7b]\nhw: h100-sxm\ngpus: 1\ntp: 1\nworkloads: [lmsys]\npolicies: [{ name: c, policy: continuous }]\nrate_fractions: [1.0]\nrequests: 20\ngoodput_probes: 0\ncompare: c\nbaselines: [c]\nfigures: false\nserve: { trace: AzureLLMInferenceTrace_conv.csv }\n',
    );
    const r = await runExperiment(loadExperimentFile(file), { outDir: join(dir, 'out'), lanes: 1 });
    expect(r.rows.length).toBeGreaterThan(2);
    for (const row of r.rows) expect(row.workload).toBe('AzureLLMInferenceTrace_conv.csv');
  });

  it("cu_split.csv tells two rapid policies apart: each run's timeline carries its policy label", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-serve-two-rapid-'));
    const file = join(dir, 'two-rapid.yaml');
    writeFileSync(
      file,
      'kind: serve\nhw: h200-sxm\nmodels: [llama3-8b]\nworkloads: [lmsys]\ngpus: 1\ntp: 1\nrequests: 30\nrate_fractions: [1]\ngoodput_probes: 0\nfigures: false\n' +
        'policies:\n  - { name: rapid-8k, policy: rapid }\n  - { name: rapid-1k, policy: rapid, options: { prefill_max_tokens: 1024 } }\ncompare: rapid-8k\nbaselines: [rapid-1k]\n',
    );
    const out = join(dir, 'out');
    await runExperiment(loadExperimentFile(file), { outDir: out, lanes: 1 });
    const [header, ...lines] = readFileSync(join(out, 'cu_split.csv'), 'utf8').trim().split('\n');
    const cols = header!.split(',');
    const policy = cols.indexOf('policy');
    const event = cols.indexOf('event');
    expect(policy).toBeGreaterThanOrEqual(0);
    // One timeline per policy, each opening with its own start record (one replica).
    const starts = lines.map((l) => l.split(',')).filter((c) => c[event] === 'start').map((c) => c[policy]);
    expect(starts).toEqual(['rapid-8k', 'rapid-1k']);
  });

  it('runs a small study: unconstrained throughput, rate sweep, goodput, comparison and figures', async () => {
    const exp = loadExperimentFile(join(process.cwd(), 'configs', 'experiments', 'rapid-serve.yaml'), [
      'models=[mixtral-8x7b]',
      'workloads=[lmsys]',
      'requests=60',
      'rate_fractions=[0.5, 1.0, 1.5]',
      'goodput_probes=1',
      'policies=[{name: hybrid-512, policy: hybrid, options: {chunk: 512}}, {name: disagg-4p4d, policy: disagg, options: {prefill_gpus: 4, decode_gpus: 4}}, {name: rapid, policy: rapid}]',
    ]);
    const out = mkdtempSync(join(tmpdir(), 'silica-serve-exp-'));
    // In-process from the TypeScript sources, where no built worker file exists: one lane.
    const r = await runExperiment(exp, { outDir: out, lanes: 1 });
    expect(r.rows.filter((x) => x.mode === 'unconstrained')).toHaveLength(3);
    // Unconstrained rows have no request rate: an empty cell in the CSV (null in JSON lines), not "NaN".
    const unconstrained = tableCsv(r.rows.filter((x) => x.mode === 'unconstrained') as Row[]).split('\n');
    const rateColumn = unconstrained[0]!.split(',').indexOf('rate_req_s');
    expect(rateColumn).toBeGreaterThanOrEqual(0);
    for (const line of unconstrained.slice(1, -1)) expect(line.split(',')[rateColumn]).toBe('');
    expect(r.rows.filter((x) => x.mode === 'rate').length).toBeGreaterThanOrEqual(9);
    for (const f of ['goodput.csv', 'comparison.csv', 'cu_split.csv', 'latency_ttft.svg', 'latency_itl.svg', 'goodput.svg', 'cu_split.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'goodput.svg'), 'utf8')).toMatch(/^<svg/);
    // One goodput row per policy, after the runs, with goodput.csv's figure as its rate: a sweep's
    // table (these rows) plots goodput without goodput.csv.
    const goodputRows = r.rows.filter((x) => x.mode === 'goodput');
    expect(goodputRows.map((x) => x.policy)).toEqual(['hybrid-512', 'disagg-4p4d', 'rapid']);
    expect(r.rows.slice(-3)).toEqual(goodputRows);
    const goodputCsv = readFileSync(join(out, 'goodput.csv'), 'utf8').trim().split('\n');
    const g = goodputCsv[0]!.split(',').indexOf('goodput_req_s');
    goodputRows.forEach((x, i) => {
      expect(x.goodput_req_s).toBe(x.rate_req_s);
      expect(Number(goodputCsv[i + 1]!.split(',')[g])).toBe(Number((x.goodput_req_s as number).toPrecision(6)));
    });
    // Which SLO stopped each goodput: one of the four, or none for a lower bound.
    for (const x of goodputRows) expect(x.goodput_lower_bound ? [''] : ['ttft', 'itl', 'both', 'joint'], String(x.policy)).toContain(x.goodput_limited_by);
    const s = r.summary as Record<string, Record<string, number | boolean>>;
    expect(s['rapid_vs_hybrid-512']!.throughput_ratio_avg).toBeGreaterThan(0);
    expect(typeof s['rapid_vs_disagg-4p4d']!.goodput_higher_everywhere).toBe('boolean');
  });
});

describe('serve experiment kind on parallel lanes', () => {
  it('writes the same tables on one lane and on two (runs are independent and seeded)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-serve-lanes-'));
    const file = join(dir, 'serve.yaml');
    writeFileSync(
      file,
      [
        'kind: serve',
        'models: [llama3.1-70b, mixtral-8x7b]',
        'workloads: [lmsys]',
        'policies: [{ name: hybrid-512, policy: hybrid, options: { chunk: 512 } }, { name: rapid, policy: rapid }]',
        'rate_fractions: [0.5, 1.0]',
        'requests: 60',
        'goodput_probes: 1',
        'baselines: [hybrid-512]',
        'figures: false',
      ].join('\n'),
    );
    for (const jobs of [1, 2]) {
      const r = silica(['run', file, '--out', join(dir, `j${jobs}`), '--quiet', '--jobs', String(jobs)]);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const f of ['results.csv', 'results.jsonl', 'goodput.csv', 'comparison.csv', 'cu_split.csv', 'report.md']) {
      expect(readFileSync(join(dir, 'j2', f), 'utf8'), f).toBe(readFileSync(join(dir, 'j1', f), 'utf8'));
    }
    const rows = readFileSync(join(dir, 'j1', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // Per model: both policies' unconstrained runs first, then each policy's rates.
    expect(rows.slice(0, 3).map((r) => `${r.model} ${r.policy} ${r.mode}`)).toEqual(['llama3.1-70b hybrid-512 unconstrained', 'llama3.1-70b rapid unconstrained', 'llama3.1-70b hybrid-512 rate']);
    expect(new Set(rows.map((r) => r.model))).toEqual(new Set(['llama3.1-70b', 'mixtral-8x7b']));
  });

  it('names the SLO that stops a goodput from the lowest probed rate above it', () => {
    const probed = (entries: Array<[number, number, number]>) => entries.map(([rate, ttft, itl]) => ({ rate_req_s: rate, summary: { ttft_slo_attainment: ttft, itl_slo_attainment: itl } }));
    // Rates 1 and 2 meet the 0.9 target; the goodput is 2; 4 and 3 are above it, and 3 is the nearest.
    const at = (ttft: number, itl: number) => probed([[1, 1, 1], [2, 0.95, 0.95], [4, 0.1, 0.1], [3, ttft, itl]]);
    expect(goodputLimit(at(0.5, 1), 2, 0.9)).toBe('ttft');
    expect(goodputLimit(at(1, 0.5), 2, 0.9)).toBe('itl');
    expect(goodputLimit(at(0.5, 0.5), 2, 0.9)).toBe('both');
    // Each alone at 0.9 or above, yet too few requests meet both.
    expect(goodputLimit(at(0.92, 0.92), 2, 0.9)).toBe('joint');
    // Nothing probed above the goodput: a lower bound, nothing to name.
    expect(goodputLimit(probed([[1, 1, 1], [2, 1, 1]]), 2, 0.9)).toBe('');
  });
});
