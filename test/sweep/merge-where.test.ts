import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, silica } from '../helpers/cli.js';

/**
 * The sweep file's path in config.resolved.yaml is the path as typed, relative to the working
 * directory: shards of one sweep run from different directories (pods or array tasks that do not
 * share one) write different `source` lines, and merge compares what the sweep is, not where.
 */
describe('merge of shards run from different working directories', () => {
  it('merges them into what one run writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-merge-where-'));
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    const sweep = join(ROOT, 'configs', 'sweeps', 'gemm-hw.yaml');
    expect(silica(['sweep', sweep, '--shard', '0/2', '--out', join(dir, 's0'), '--jobs', '1', '--quiet']).code).toBe(0);
    expect(silica(['sweep', relative(elsewhere, sweep), '--shard', '1/2', '--out', join(dir, 's1'), '--jobs', '1', '--quiet'], { cwd: elsewhere }).code).toBe(0);
    const source = (shard: string) => /\n {2}source: (.*)\n/.exec(readFileSync(join(dir, shard, 'config.resolved.yaml'), 'utf8'))![1];
    expect(source('s0')).not.toBe(source('s1'));
    expect(silica(['merge', join(dir, 's0'), join(dir, 's1'), '--out', join(dir, 'merged')]).code).toBe(0);
    expect(silica(['sweep', sweep, '--out', join(dir, 'one'), '--jobs', '1', '--quiet']).code).toBe(0);
    for (const f of ['results.csv', 'results.jsonl', 'points.jsonl', 'summary.json']) {
      expect(readFileSync(join(dir, 'merged', f), 'utf8')).toBe(readFileSync(join(dir, 'one', f), 'utf8'));
    }
  });
});
