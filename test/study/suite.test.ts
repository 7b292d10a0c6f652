import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectOneLineError, silica } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'silica-suite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('suite experiment kind', () => {
  it('checks every sub-experiment before the first runs, naming the field by its path in the suite file', () => {
    const suite = (experiment: string) => `kind: suite\nexperiments:\n  - name: k\n    experiment: { kind: kernels, figure: false, points: [{ op: gemm, m: 64, n: 64, k: 64 }] }\n  - name: x\n    experiment: ${experiment}\n`;
    const cases: Array<[string, string, RegExp]> = [
      // The training model's own check speaks of --seq (silica bert's flag); here it is the file's field.
      ['seq.yaml', '{ kind: bert, baseline: { model: bert-base, seq: 100000, batch: 2 }, figures: false, studies: [{ name: p, vary: { precision: [fp32] } }] }', /seq\.yaml: experiments\.1\.experiment\.baseline\.seq: bert-base supports at most 512 positions, got 100000$/],
      ['hw.yaml', '{ kind: kernels, hw: nope, figure: false, points: [{ op: gemm, m: 64, n: 64, k: 64 }] }', /hw\.yaml: experiments\.1\.experiment\.hw: unknown preset "nope"/],
    ];
    for (const [name, experiment, pattern] of cases) {
      const out = join(dir, `${name}.out`);
      writeFileSync(join(dir, name), suite(experiment));
      expectOneLineError(silica(['run', join(dir, name), '--out', out]), pattern);
      // Refused before the first sub-experiment ran: nothing was written.
      expect(existsSync(out)).toBe(false);
    }
  });
});
