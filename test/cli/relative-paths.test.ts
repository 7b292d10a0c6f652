import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, silica } from '../helpers/cli.js';

/**
 * A path in an experiment or sweep file is relative to that file, wherever silica runs from: a
 * hardware YAML given as `part.yaml` (no slash) was looked up in the working directory by the
 * kernels, t3 and bert kinds, and a serve experiment's `hw` and `serve.trace` always were. Each
 * file here names `part.yaml` (the A100 preset, copied) and runs from the repository root.
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-relative-'));
copyFileSync(join(ROOT, 'configs', 'hw', 'a100-sxm.yaml'), join(dir, 'part.yaml'));
writeFileSync(join(dir, 'requests.csv'), readFileSync(join(ROOT, 'data', 'requests', 'AzureLLMInferenceTrace_conv.csv'), 'utf8').split('\n').slice(0, 41).join('\n') + '\n');

function run(name: string, yaml: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const r = silica(['run', file, '--out', join(dir, `out-${name}`)], { cwd: ROOT });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return readFileSync(join(dir, `out-${name}`, 'results.csv'), 'utf8');
}

describe('paths in experiment files are relative to the file', () => {
  it('kernels and a sweep over it', () => {
    const kernels = 'kind: kernels\nhw: part.yaml\nfigure: false\npoints:\n  - { op: gemm, m: 256, n: 256, k: 256, dtype: bf16 }\n';
    expect(run('kernels', kernels).split('\n')[1]).toMatch(/^a100-sxm,/);
    writeFileSync(join(dir, 'sweep.yaml'), `name: s\nbase:\n  ${kernels.trimEnd().split('\n').join('\n  ')}\naxes:\n  hw: { name: part, values: [mi300x, part.yaml] }\n`);
    const r = silica(['sweep', join(dir, 'sweep.yaml'), '--out', join(dir, 'out-sweep'), '--jobs', '1', '--quiet'], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'out-sweep', 'results.csv'), 'utf8')).toMatch(/\n1,[0-9a-f]+,part\.yaml,a100-sxm,/);
  });

  it('t3 and bert', () => {
    const t3 = 'kind: t3\ntokens: 1024\nfigures: false\nhardware:\n  - hw: part.yaml\n    models:\n      - { model: t-nlg-17b, tp: [8] }\nsublayers: [fc2]\nconfigurations: [sequential, t3]\n';
    expect(run('t3', t3)).toContain('part.yaml');
    expect(run('bert', 'kind: bert\nbaseline: { hw: part.yaml }\nstudies:\n  - name: precision\n    vary: { precision: [fp32] }\nfigures: false\n')).toContain(',part.yaml,');
  });

  it('serve: hw and serve.trace', () => {
    const serve = [
      'kind: serve',
      'hw: part.yaml',
      'models: [llama2-7b]',
      'workloads: [lmsys]',
      'policies:',
      '  - { name: hybrid-512, policy: hybrid, options: { chunk: 512 } }',
      'rate_fractions: [1.0]',
      'requests: 40',
      'goodput_probes: 0',
      'compare: hybrid-512',
      'baselines: []',
      'figures: false',
      'serve: { trace: requests.csv }',
    ].join('\n');
    expect(run('serve', `${serve}\n`).split('\n').length).toBeGreaterThan(2);
    // A bare trace name is looked for beside the file, then among the shipped traces: never in the
    // working directory, where a run from elsewhere would have read another file of that name.
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    copyFileSync(join(dir, 'requests.csv'), join(elsewhere, 'only-here.csv'));
    writeFileSync(join(dir, 'serve-cwd.yaml'), serve.replace('requests.csv', 'only-here.csv'));
    const r = silica(['run', join(dir, 'serve-cwd.yaml'), '--out', join(dir, 'out-serve-cwd')], { cwd: elsewhere });
    expect(r.stderr).toMatch(/only-here\.csv: cannot read request trace: no such file\n$/);
    expect(r.code).toBe(1);
    // The run's resolved config lies in its output folder and names the original folder
    // (base_dir), so it reruns from there: same hardware file, same trace, same table.
    const again = silica(['run', join(dir, 'out-serve', 'config.resolved.yaml'), '--out', join(dir, 'out-serve-again')], { cwd: elsewhere });
    expect(again.stderr).toBe('');
    expect(readFileSync(join(dir, 'out-serve-again', 'results.csv'), 'utf8')).toBe(readFileSync(join(dir, 'out-serve', 'results.csv'), 'utf8'));
    expect(readFileSync(join(dir, 'out-serve', 'config.resolved.yaml'), 'utf8')).toMatch(/\nbase_dir: \.\.\n/);
  });

  it('base_dir: a folder that is not there is one line', () => {
    writeFileSync(join(dir, 'no-base.yaml'), 'base_dir: nowhere\nkind: kernels\nhw: part.yaml\npoints:\n  - { op: gemm, m: 256, n: 256, k: 256 }\n');
    const r = silica(['run', join(dir, 'no-base.yaml'), '--out', join(dir, 'out-no-base')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^silica: .*no-base\.yaml: base_dir: no such folder nowhere \(.*\)\n$/);
  });
});
