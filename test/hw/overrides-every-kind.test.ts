import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { resolveExperiment } from '../../src/sweep/experiment.js';
import { silicaErrorOf } from '../helpers/errors.js';
import { ROOT, expectOneLineError, silica } from '../helpers/cli.js';

/**
 * `hw_overrides` is one field in every experiment kind (kernels, t3, bert, serve): the same
 * partial hardware tree, checked the same way when the config is resolved, so a sweep can vary a
 * part's field with one dotted path whatever the study.
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-hw-overrides-'));
const FILE = join(dir, 'exp.yaml');

const EXPERIMENTS: Record<string, Record<string, unknown>> = {
  kernels: { kind: 'kernels', hw: 'mi300x', figure: false, points: [{ op: 'gemm', m: 1024, n: 1024, k: 1024, dtype: 'bf16' }] },
  bert: { kind: 'bert', figures: false, baseline: { model: 'bert-base', hw: 'mi300x' }, studies: [{ name: 'p', vary: { precision: ['fp32', 'mixed-fp16'] } }] },
  serve: { kind: 'serve', hw: 'mi300x', models: ['llama3.1-70b'], workloads: ['lmsys'], policies: [{ name: 'rapid', policy: 'rapid' }], baselines: [], figures: false },
};

type Row = Record<string, string>;
function csv(path: string): Row[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

function runFile(name: string, experiment: Record<string, unknown>): Row[] {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify(experiment));
  const out = join(dir, `out-${name}`);
  const r = silica(['run', file, '--out', out, '--quiet', '--jobs', '1']);
  expect(r.code, r.stderr).toBe(0);
  return csv(join(out, 'results.csv'));
}

describe('hw_overrides in every experiment kind', () => {
  it('a field the part does not have is refused when the config is resolved, naming the override', () => {
    for (const [kind, exp] of Object.entries(EXPERIMENTS)) {
      const message = silicaErrorOf(() => resolveExperiment({ ...exp, hw_overrides: { compute: { cuz: 100 } } }, FILE, dir));
      expect(message, kind).toMatch(/exp\.yaml: hw_overrides\.compute\.cuz: no such hardware field in mi300x \(no field cuz\)$/);
      // A field the part has, nested or dotted, resolves.
      expect(() => resolveExperiment({ ...exp, hw_overrides: { 'compute.cus': 152 } }, FILE, dir), kind).not.toThrow();
    }
    // A field named twice, by a dotted key and a nested mapping (or one replacing the mapping the other sets a field of), would be set by key order.
    for (const [kind, exp] of Object.entries(EXPERIMENTS)) {
      expect(silicaErrorOf(() => resolveExperiment({ ...exp, hw_overrides: { 'memory.hbm.efficiency': 0.8, memory: { hbm: { efficiency: 0.7 } } } }, FILE, dir)), kind).toMatch(
        /exp\.yaml: hw_overrides\.memory\.hbm\.efficiency: expected each hardware field once, got memory\.hbm\.efficiency=0\.8 and memory\.hbm\.efficiency=0\.7 \(a dotted key and a nested mapping name the same field\)$/,
      );
      // Two fields of one mapping, one dotted and one nested, are two fields.
      expect(() => resolveExperiment({ ...exp, hw_overrides: { 'memory.hbm': { efficiency: 0.8 }, memory: { hbm: { peak_gbps: 4000 } } } }, FILE, dir), kind).not.toThrow();
    }
    // t3 compares parts: each entry of its hardware list (and each sensitivity variant) has its own.
    const t3 = (overrides: Record<string, unknown>) => ({ kind: 't3', hardware: [{ hw: 't3-baseline', hw_overrides: overrides, models: [{ model: 't-nlg-17b', tp: [8] }] }] });
    expect(silicaErrorOf(() => resolveExperiment(t3({ compute: { cuz: 100 } }), FILE, dir))).toMatch(/exp\.yaml: hardware\.0\.hw_overrides\.compute\.cuz: no such hardware field in t3-baseline \(no field cuz\)$/);
    expect(() => resolveExperiment(t3({ 'compute.cus': 40 }), FILE, dir)).not.toThrow();
    // So is a hardware the file names that does not exist, with the file's field, not a flag.
    expect(silicaErrorOf(() => resolveExperiment({ ...EXPERIMENTS.bert, studies: [{ name: 'hw', vary: { hw: ['mi300x', 'mi301x'] } }] }, FILE, dir))).toMatch(
      /exp\.yaml: studies\.0\.vary\.hw\.1: unknown preset "mi301x"/,
    );
  });

  it('bert: the same iteration as a hardware file that starts from the preset; fewer CUs are never faster', () => {
    const half = join(dir, 'half.yaml');
    writeFileSync(half, 'base: mi300x\ncompute: {cus: 152}\n');
    const study = [{ name: 'p', vary: { precision: ['fp32', 'mixed-fp16'], batch: [4, 32] } }];
    const viaOverrides = runFile('bert-overrides', { ...EXPERIMENTS.bert, studies: study, hw_overrides: { compute: { cus: 152 } } });
    const viaFile = runFile('bert-file', { ...EXPERIMENTS.bert, baseline: { model: 'bert-base', hw: 'half.yaml' }, studies: study });
    const full = runFile('bert-full', { ...EXPERIMENTS.bert, studies: study });
    expect(viaOverrides.map((r) => ({ ...r, hw: 'half' }))).toEqual(viaFile.map((r) => ({ ...r, hw: 'half' })));
    expect(viaOverrides.length).toBe(4);
    // The report says what the part was given: its rows name the preset, which the overrides changed.
    expect(readFileSync(join(dir, 'out-bert-overrides', 'report.md'), 'utf8')).toContain('Every part below is its preset with `compute.cus=152`');
    expect(readFileSync(join(dir, 'out-bert-full', 'report.md'), 'utf8')).not.toContain('hw_overrides');
    for (const [i, r] of viaOverrides.entries()) {
      expect(Number(r.iteration_us)).toBeGreaterThan(Number(full[i]!.iteration_us));
      // Half the CUs at most halve the rate: the same FLOPs on half the matrix units.
      expect(Number(r.iteration_us)).toBeLessThan(2.05 * Number(full[i]!.iteration_us));
    }
  });

  it('serve: the same runs as serve.hw_set; less HBM bandwidth never raises throughput', () => {
    const small = { ...EXPERIMENTS.serve, rate_fractions: [0.5], requests: 30, goodput_probes: 1 };
    const viaOverrides = runFile('serve-overrides', { ...small, hw_overrides: { 'memory.hbm.efficiency': 0.5 } });
    const viaSet = runFile('serve-set', { ...small, serve: { hw_set: ['memory.hbm.efficiency=0.5'] } });
    const full = runFile('serve-full', small);
    expect(viaOverrides).toEqual(viaSet);
    const unconstrained = (rows: Row[]) => Number(rows.find((r) => r.mode === 'unconstrained')!.throughput_tok_s);
    expect(unconstrained(viaOverrides)).toBeLessThan(unconstrained(full));
  });

  it('a sweep varies a part field of a bert experiment by one path, and refuses a bad one before any run', () => {
    writeFileSync(join(dir, 'bert-base.yaml'), JSON.stringify({ ...EXPERIMENTS.bert, hw_overrides: { compute: { cus: 304 } } }));
    const sweep = join(dir, 'cus.yaml');
    writeFileSync(sweep, 'name: cus\nbase: bert-base.yaml\naxes:\n  hw_overrides.compute.cus: { name: cus, values: [38, 76, 152, 304] }\n');
    const out = join(dir, 'sweep-out');
    expect(silica(['sweep', sweep, '--out', out, '--quiet', '--jobs', '1']).code).toBe(0);
    const rows = csv(join(out, 'results.csv'));
    for (const precision of ['fp32', 'mixed-fp16']) {
      const times = rows.filter((r) => r.precision === precision).map((r) => [Number(r.cus), Number(r.iteration_us)] as const);
      expect(times.map(([cus]) => cus)).toEqual([38, 76, 152, 304]);
      for (let i = 1; i < times.length; i++) expect(times[i]![1]).toBeLessThan(times[i - 1]![1]);
    }
    const bad = join(dir, 'bad-cus.yaml');
    writeFileSync(bad, 'name: bad\nbase: bert-base.yaml\naxes:\n  hw_overrides.compute.cus: [304, 0]\n');
    expectOneLineError(silica(['sweep', bad, '--dry-run']), /bad-cus\.yaml: point 1 \(hw_overrides_compute_cus=0\): .*compute\.cus.*expected a positive number, got 0/);
  });
});

describe('configs/sweeps/bert-hw-what-if.yaml', () => {
  it('more CUs or more HBM bandwidth never slow a BERT iteration, and bandwidth helps the small batch more', () => {
    const out = join(dir, 'what-if');
    const r = silica(['sweep', join(ROOT, 'configs', 'sweeps', 'bert-hw-what-if.yaml'), '--out', out, '--quiet', '--jobs', '1']);
    expect(r.code, r.stderr).toBe(0);
    const rows = csv(join(out, 'results.csv'));
    const us = (batch: string, cus: string, hbm: string) => Number(rows.find((x) => x.batch === batch && x.cus === cus && x.hbm_gbps === hbm)!.iteration_us);
    const cusValues = ['152', '304', '456'];
    const hbmValues = ['2662.5', '5325', '7987.5'];
    for (const batch of ['8', '32']) {
      for (const hbm of hbmValues) for (let i = 1; i < 3; i++) expect(us(batch, cusValues[i]!, hbm)).toBeLessThanOrEqual(us(batch, cusValues[i - 1]!, hbm));
      for (const cus of cusValues) for (let i = 1; i < 3; i++) expect(us(batch, cus, hbmValues[i]!)).toBeLessThanOrEqual(us(batch, cus, hbmValues[i - 1]!));
    }
    // A smaller batch is more memory bound (its GEMMs are thinner): doubling HBM saves it a larger share.
    const saved = (batch: string) => 1 - us(batch, '304', '5325') / us(batch, '304', '2662.5');
    expect(saved('8')).toBeGreaterThan(saved('32'));
  });
});

describe('an invalid value names the override that gave it', () => {
  it('the last of two overrides of one field, the one applied', () => {
    // Was: "interconnect.nodes (set by the override interconnect.nodes=2): ... got 0".
    const r = silica(['collective', 'all-reduce', '--hw', 'h100-sxm', '--set', 'interconnect.nodes=2', '--set', 'interconnect.nodes=0', '--bytes', '1MiB']);
    expectOneLineError(r, /interconnect\.nodes \(set by the override interconnect\.nodes=0\): expected a positive number, got 0$/);
  });
});
