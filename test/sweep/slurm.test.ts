import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silica, silicaJson } from '../helpers/cli.js';
import { FIXTURES, read, sortedCsv, tempDir } from './helpers.js';
import { SlurmCluster, slurmAvailable } from './slurm-cluster.js';

/**
 * A real scheduler, not a stand-in: a single-node Slurm started here runs the job array that
 * `silica sweep --emit-slurm` writes, and the merged shards must equal a local run. Skipped only
 * where the Slurm and munge binaries are not installed (.ci/run installs them).
 */
const SWEEP = join(FIXTURES, 'small.yaml');

describe.skipIf(!slurmAvailable())('Slurm job array of a 4-shard sweep', () => {
  const dir = tempDir('slurm');
  let cluster: SlurmCluster | undefined;

  beforeAll(async () => {
    cluster = await SlurmCluster.start(join(dir, 'cluster'));
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('runs the emitted sbatch script, and the merged table equals the local run', async () => {
    const out = join(dir, 'array');
    const emitted = silicaJson<{ script: string; shards: number }>(['sweep', SWEEP, '--emit-slurm', '--shards', '4', '--jobs', '1', '--out', out]);
    expect(emitted.shards).toBe(4);

    const jobId = await cluster!.submitAndWait(emitted.script, 75_000);
    const logs = readdirSync(out).filter((f) => f.startsWith(`slurm-${jobId}_`)).sort();
    expect(logs).toEqual([0, 1, 2, 3].map((i) => `slurm-${jobId}_${i}.log`));
    for (let i = 0; i < 4; i++) {
      expect(existsSync(join(out, `shard-${i}`, 'summary.json')), `shard ${i}: ${read(join(out, `slurm-${jobId}_${i}.log`))}`).toBe(true);
      expect(JSON.parse(read(join(out, `shard-${i}`, 'summary.json'))).shard).toBe(`${i}/4`);
    }

    const merged = join(out, 'merged');
    expect(silica(['merge', ...[0, 1, 2, 3].map((i) => join(out, `shard-${i}`)), '--out', merged]).code).toBe(0);
    const local = join(dir, 'local');
    expect(silica(['sweep', SWEEP, '--out', local, '--jobs', '1']).code).toBe(0);
    expect(sortedCsv(join(merged, 'results.csv'))).toEqual(sortedCsv(join(local, 'results.csv')));
    expect(read(join(merged, 'results.jsonl'))).toBe(read(join(local, 'results.jsonl')));
  }, 90_000);
});
