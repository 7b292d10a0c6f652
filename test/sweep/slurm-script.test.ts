import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { slurmScript, type SlurmOptions } from '../../src/sweep/slurm.js';

/** The sbatch directives take --time and --partition as given: malformed ones fail here, not at sbatch. */
const base: SlurmOptions = { sweepFile: 'configs/sweeps/gemm-hw.yaml', name: 'gemm-hw', out: 'out/x', shards: 4, jobsPerTask: 1 };

describe('slurmScript options', () => {
  it('writes every time-limit form sbatch accepts', () => {
    for (const t of ['30', '30:00', '2:00:00', '1-12', '1-12:30', '1-12:00:00', 'UNLIMITED', 'infinite']) {
      expect(slurmScript({ ...base, timeLimit: t })).toContain(`#SBATCH --time=${t}\n`);
    }
    expect(slurmScript({ ...base, partition: 'gpu,debug' })).toContain('#SBATCH --partition=gpu,debug\n');
  });

  it('refuses what sbatch would not take, with one line naming the flag', () => {
    for (const t of ['abc', '1:2:3:4', '1-', '2h']) {
      expect(() => slurmScript({ ...base, timeLimit: t })).toThrow(SilicaError);
      expect(() => slurmScript({ ...base, timeLimit: t })).toThrow(/^--time: expected a Slurm time limit such as 30, 2:00:00 or 1-12:00:00, got "/);
    }
    expect(() => slurmScript({ ...base, partition: 'gpu\n#SBATCH --mem=1' })).toThrow(/^--partition: expected a partition name/);
    expect(() => slurmScript({ ...base, out: 'out/a"b' })).toThrow(/^--out: expected a folder whose path an #SBATCH line can hold/);
  });

  it('writes the log pattern so that sbatch reads the folder as given: blanks quoted, % doubled', () => {
    expect(slurmScript({ ...base, out: 'out/x' })).toContain(`#SBATCH --output=${resolve('out/x')}/slurm-%A_%a.log\n`);
    expect(slurmScript({ ...base, out: 'out/my sweep 100%' })).toContain(`#SBATCH --output="${resolve('out/my sweep 100%%')}/slurm-%A_%a.log"\n`);
  });
});
