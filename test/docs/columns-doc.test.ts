import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, silica } from '../helpers/cli.js';

/**
 * docs/columns.md is the data dictionary of every table silica writes. The tables are not guessed
 * at: the built CLI runs one suite holding a small experiment of every kind, each set up to write
 * every table and every column its kind can (t3's timeline, projection and sensitivity; serve's
 * rapid, disagg with a blocking KV receive and host overhead), plus a sweep and `validate --json`.
 * A column a table has that the page does not list under its kind and file fails here; so does a
 * column the page lists that no longer appears, and a kind the page has no section for.
 */

/** `kind/file` (`t3/projection.csv`, `silica sweep/results.csv`) -> the first cells of its table rows. */
function documentedColumns(text: string): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>();
  let h2 = '';
  let current: Set<string> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('## ')) {
      h2 = /^## `([^`]+)`/.exec(line)?.[1] ?? '';
      current = undefined;
      continue;
    }
    const h3 = /^### `([^`]+)`/.exec(line);
    if (h3) {
      current = new Set();
      sections.set(`${h2}/${h3[1]}`, current);
      continue;
    }
    const row = /^\| `([a-z][a-z0-9_]*)` \|/.exec(line);
    if (row && current) current.add(row[1]!);
  }
  return sections;
}

function csvHeader(path: string): string[] {
  const first = readFileSync(path, 'utf8').split('\n', 1)[0]!;
  const columns = first.split(',');
  // Column names are identifiers: a quoted or odd cell would make this split lie.
  for (const c of columns) expect(c, `${path}: header cell`).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  return columns;
}

function jsonlRows(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * The registered experiment kinds, from the build the CLI runs (npm test builds first): a child
 * process imports it in about a second, where importing src/study here costs vitest several.
 */
function experimentKinds(): string[] {
  const registry = pathToFileURL(join(ROOT, 'dist', 'src', 'study', 'index.js')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(registry)}); process.stdout.write(JSON.stringify(m.experimentKinds()));`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`listing the experiment kinds failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

const undocumented = (columns: Iterable<string>, doc: Set<string> | undefined) => [...columns].filter((c) => !doc?.has(c));

// One sub-experiment per kind, named after it. Small: the whole run takes a few seconds.
const SUITE = `kind: suite
experiments:
  - name: kernels
    experiment:
      kind: kernels
      figure: false
      points:
        - { op: gemm, m: 1024, n: 1024, k: 1024, dtype: bf16 }
        - { op: stream, stream: triad, bytes: 64MiB }
  - name: corun
    experiment:
      kind: corun
      hw: h200-sxm
      figure: false
      a: { op: gemm, m: 1024, n: 2048, k: 2048, dtype: bf16 }
      b: { op: stream, stream: copy, bytes: 64MiB }
      cus_a: [64]
      window_us: 200
  - name: bert
    experiment:
      kind: bert
      figures: false
      baseline: { model: bert-base, seq: 128, batch: 8 }
      studies: [{ name: precision, vary: { precision: [mixed-fp16] } }]
  - name: t3
    experiment:
      kind: t3
      tokens: 2048
      figures: false
      jobs: 1
      hardware: [{ hw: t3-baseline, models: [{ model: mega-gpt2-8.3b, tp: [2] }] }]
      sublayers: [fc2]
      configurations: [sequential, t3-mca]
      timeline: { hw: t3-baseline, model: mega-gpt2-8.3b, tp: 2, sublayer: fc2, configurations: [sequential], bins: 4 }
      projection: { hw: t3-baseline, tp: 2, models: [mega-gpt2-8.3b], phases: [prefill], batch: 1, seq: 256 }
      sensitivity:
        - name: link
          hw: t3-baseline
          models: [{ model: mega-gpt2-8.3b, tp: [2] }]
          configurations: [sequential, t3-mca]
          variants: [{ label: 75, hw_overrides: { interconnect: { link_gbps: 75 } } }]
  - name: serve
    experiment:
      kind: serve
      hw: h200-sxm
      gpus: 2
      tp: 1
      models: [llama2-7b]
      workloads: [lmsys]
      figures: false
      jobs: 1
      policies:
        - { name: hybrid, policy: hybrid, options: { chunk: 512 } }
        - { name: disagg, policy: disagg, options: { prefill_gpus: 1, decode_gpus: 1, kv_receive: blocking } }
        - { name: rapid, policy: rapid }
      rate_fractions: [1.0]
      requests: 20
      goodput_probes: 0
      baselines: [hybrid]
      serve: { host_overhead: { per_iteration_us: 100 } }
`;

const SWEEP = `name: columns-doc
base:
  kind: kernels
  hw_overrides: {}
  figure: false
  points: [{ op: gemm, m: 64, n: 64, k: 64 }]
axes:
  points.0.m: [64, 128]
  points.0.k: { name: gemm_k, values: [64] }
variants:
  - name: nominal
  - name: slow-hbm
    set: { hw_overrides: { memory: { hbm: { efficiency: 0.5 } } } }
`;

const VALIDATION_POINTS = `group: columns-doc
points:
  - { name: copy, runner: stream, hw: mi300x, params: { op: copy, array_bytes: 64MiB }, metric: achieved_gbps, unit: GB/s, measured: 4000, tolerance_pct: 50, source: test }
  - { name: copy band, runner: stream, hw: mi300x, params: { op: copy, array_bytes: 64MiB }, metric: achieved_gbps, unit: GB/s, measured: 4000, band: [1, 100000], source: test, informational: true }
`;

const doc = documentedColumns(readFileSync(join(ROOT, 'docs', 'columns.md'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'silica-columns-doc-'));
const out = join(dir, 'suite');
const kinds = experimentKinds().filter((k) => k !== 'suite');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/columns.md documents every column silica writes', () => {
  /** kind -> file -> the columns that table has. */
  const written = new Map<string, Map<string, string[]>>();

  beforeAll(() => {
    writeFileSync(join(dir, 'every-kind.yaml'), SUITE);
    const r = silica(['run', join(dir, 'every-kind.yaml'), '--out', out, '--jobs', '1']);
    if (r.code !== 0) throw new Error(`silica run failed (${r.code}): ${r.stderr}`);
    const rows = jsonlRows(join(out, 'results.jsonl'));
    for (const kind of kinds) {
      const files = new Map<string, string[]>();
      // A suite's results.csv holds every kind's columns: a kind's are the keys of its rows.
      const own = new Set<string>();
      for (const row of rows) if (row.experiment === kind) for (const k of Object.keys(row)) if (k !== 'experiment') own.add(k);
      files.set('results.csv', [...own]);
      const folder = join(out, kind);
      for (const f of (existsSync(folder) ? readdirSync(folder) : []).filter((f) => f.endsWith('.csv')).sort()) files.set(f, csvHeader(join(folder, f)));
      written.set(kind, files);
    }
  });

  it('runs every experiment kind, each with a section for its results.csv', () => {
    expect(kinds.length).toBeGreaterThanOrEqual(5);
    // A new kind fails here until SUITE runs it (and the page documents it).
    expect([...new Set(jsonlRows(join(out, 'results.jsonl')).map((r) => r.experiment))].sort()).toEqual([...kinds].sort());
    for (const kind of [...kinds, 'suite']) expect(doc.has(`${kind}/results.csv`), `docs/columns.md: no "## \`${kind}\`" section with "### \`results.csv\`"`).toBe(true);
  });

  it("lists each kind's results.csv columns under the kind, and the suite's own", () => {
    // The CSV users read has exactly the columns of the JSONL rows.
    const rows = jsonlRows(join(out, 'results.jsonl'));
    expect(csvHeader(join(out, 'results.csv')).sort()).toEqual([...new Set(rows.flatMap((r) => Object.keys(r)))].sort());
    const missing = kinds.flatMap((kind) => undocumented(written.get(kind)!.get('results.csv')!, doc.get(`${kind}/results.csv`)).map((c) => `${kind}/results.csv: ${c}`));
    expect(missing, 'columns missing from docs/columns.md').toEqual([]);
    expect(undocumented(['experiment'], doc.get('suite/results.csv'))).toEqual([]);
  });

  it("lists the columns of each kind's own tables, and only the tables it writes", () => {
    const tables = kinds.flatMap((kind) => [...written.get(kind)!].filter(([file]) => file !== 'results.csv').map(([file, columns]) => ({ key: `${kind}/${file}`, columns })));
    expect(tables.filter((t) => !doc.has(t.key)).map((t) => t.key), 'tables with no "### `FILE`" under their "## `KIND`" in docs/columns.md').toEqual([]);
    const missing = tables.flatMap((t) => undocumented(t.columns, doc.get(t.key)).map((c) => `${t.key}: ${c}`));
    expect(missing, 'columns missing from docs/columns.md').toEqual([]);
    const documented = [...doc.keys()].filter((k) => kinds.includes(k.split('/')[0]!));
    expect(documented.filter((k) => !written.get(k.split('/')[0]!)!.has(k.split('/')[1]!)), 'tables docs/columns.md documents that the run did not write').toEqual([]);
  });

  it('lists no column the kinds no longer write', () => {
    const stale = kinds.flatMap((kind) => [...written.get(kind)!].flatMap(([file, columns]) => [...(doc.get(`${kind}/${file}`) ?? [])].filter((c) => !columns.includes(c)).map((c) => `${kind}/${file}: ${c}`)));
    expect(stale, 'columns docs/columns.md lists that the tables do not have').toEqual([]);
    expect([...doc.get('suite/results.csv')!]).toEqual(['experiment']);
  });

  it("lists a sweep's own columns; axis columns are named as the page says", () => {
    writeFileSync(join(dir, 'sweep.yaml'), SWEEP);
    const sweepOut = join(dir, 'sweep');
    const r = silica(['sweep', join(dir, 'sweep.yaml'), '--out', sweepOut, '--jobs', '1', '--quiet']);
    if (r.code !== 0) throw new Error(`silica sweep failed (${r.code}): ${r.stderr}`);
    const header = csvHeader(join(sweepOut, 'results.csv'));
    const lead = ['point', 'point_id', 'variant'];
    // The axis `points.0.m` (no name) becomes points_0_m; a named axis keeps its name.
    expect(header.slice(0, 5)).toEqual([...lead, 'points_0_m', 'gemm_k']);
    expect([...doc.get('silica sweep/results.csv')!]).toEqual(lead);
    const missing = undocumented(header.slice(5), doc.get('kernels/results.csv'));
    expect(missing, `columns of a kernels sweep missing from the kernels section: ${missing.join(', ')}`).toEqual([]);
  });

  it("lists the columns of silica serve --out's requests.csv and arm_timeline.csv, and of silica replay --kernels", () => {
    const serveOut = join(dir, 'serve');
    const s = silica(['serve', '--model', 'llama2-7b', '--hw', 'h100-sxm', '--gpus', '1', '--tp', '1', '--policy', 'rapid', '--workload', 'lmsys', '--rate', '4', '--requests', '20', '--out', serveOut]);
    if (s.code !== 0) throw new Error(`silica serve failed (${s.code}): ${s.stderr}`);
    const kernelsCsv = join(dir, 'kernels.csv');
    const r = silica(['replay', join(ROOT, 'traces', 'chakra', 'bert-base-prefill-tp2.0.et'), '--hw', 'mi300x', '--kernels', kernelsCsv]);
    if (r.code !== 0) throw new Error(`silica replay failed (${r.code}): ${r.stderr}`);
    for (const [key, path] of [
      ['silica serve --out/requests.csv', join(serveOut, 'requests.csv')],
      ['silica serve --out/arm_timeline.csv', join(serveOut, 'arm_timeline.csv')],
      ['silica replay --kernels/OUT.csv', kernelsCsv],
    ] as const) {
      const header = csvHeader(path);
      expect(undocumented(header, doc.get(key)), `${key}: columns missing from docs/columns.md`).toEqual([]);
      expect([...(doc.get(key) ?? [])].filter((c) => !header.includes(c)), `${key}: columns docs/columns.md lists that the table does not have`).toEqual([]);
    }
  });

  it("lists the columns of silica serve --goodput --out's goodput_probes.csv: its own, or results.csv's", () => {
    // A probe row is the probe's run summary behind three columns of its own; the summary's
    // columns depend on the policy, so rapid (arm_*, replicas) and disagg (its pools) both run.
    const key = 'silica serve --out/goodput_probes.csv';
    const shared = doc.get('serve/results.csv')!;
    const written = new Set<string>();
    for (const policy of ['rapid', 'disagg']) {
      const serveOut = join(dir, `goodput-${policy}`);
      const s = silica(['serve', '--model', 'llama2-7b', '--hw', 'h100-sxm', '--gpus', '2', '--tp', '1', '--policy', policy, '--requests', '20', '--goodput', '--out', serveOut]);
      if (s.code !== 0) throw new Error(`silica serve --goodput failed (${s.code}): ${s.stderr}`);
      const header = csvHeader(join(serveOut, 'goodput_probes.csv'));
      expect(header.slice(0, 3)).toEqual(['rate_req_s', 'slo_attainment', 'meets']);
      // Steady-state probes carry the backlog check's columns.
      expect(header).toEqual(expect.arrayContaining(['backlog_growth', 'backlog_allowed', 'sustained']));
      for (const c of header) written.add(c);
    }
    expect([...written].filter((c) => !doc.get(key)?.has(c) && !shared.has(c)), `${key}: columns missing from docs/columns.md`).toEqual([]);
    expect([...(doc.get(key) ?? [])].filter((c) => !written.has(c)), `${key}: columns docs/columns.md lists that the table does not have`).toEqual([]);
  });

  it('lists the fields of each point of `silica validate --json`', () => {
    // Points of its own (a tolerance and a band): every point has the same fields, and the shipped
    // set would take seconds to load and run.
    writeFileSync(join(dir, 'points.yaml'), VALIDATION_POINTS);
    const r = silica(['validate', '--json', '--quiet', '--points', join(dir, 'points.yaml')]);
    if (r.code !== 0) throw new Error(`silica validate failed (${r.code}): ${r.stderr}`);
    const report = JSON.parse(r.stdout) as { points: Array<Record<string, unknown>> };
    expect(report.points.length).toBeGreaterThan(0);
    const fields = [...new Set(report.points.flatMap((p) => Object.keys(p)))];
    expect(undocumented(fields, doc.get('silica validate --json/points'))).toEqual([]);
    expect([...doc.get('silica validate --json/points')!].filter((f) => !fields.includes(f))).toEqual([]);
  });
});
