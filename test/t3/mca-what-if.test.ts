import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, silica, type CliResult } from '../helpers/cli.js';

/**
 * The shipped sweep configs/sweeps/t3-mca-what-if.yaml (T3 under FR-FCFS, MCA and adaptive MCA as
 * t3-baseline's HBM bandwidth goes from 512 GB/s to 2 TB/s), run as a user would: every point
 * through the CLI, then physics and the trade the policies make, read from results.jsonl.
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-mca-what-if-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Row = { hbm_gbps: number; sublayer: string; configuration: string; time_us: number; speedup_vs_sequential: number };

describe('configs/sweeps/t3-mca-what-if.yaml', () => {
  let r: CliResult;
  let rows: Row[] = [];
  let bandwidths: number[] = [];
  let sublayers: string[] = [];
  beforeAll(() => {
    const out = join(dir, 'out');
    r = silica(['sweep', join(ROOT, 'configs', 'sweeps', 't3-mca-what-if.yaml'), '--out', out, '--quiet', '--jobs', '2']);
    if (r.code === 0) rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
    bandwidths = [...new Set(rows.map((x) => x.hbm_gbps))].sort((a, b) => a - b);
    sublayers = [...new Set(rows.map((x) => x.sublayer))].sort();
  });
  const us = (bw: number, sublayer: string, configuration: string) => rows.find((x) => x.hbm_gbps === bw && x.sublayer === sublayer && x.configuration === configuration)!.time_us;
  const geomean = (bw: number, configuration: string) => Math.exp(sublayers.reduce((s, sl) => s + Math.log(us(bw, sl, 'sequential') / us(bw, sl, configuration)), 0) / sublayers.length);

  it('runs every point: five bandwidths x four sub-layers x six configurations', () => {
    expect(r.code, r.stderr).toBe(0);
    expect(bandwidths).toEqual([512, 768, 1024, 1536, 2048]);
    expect(sublayers).toEqual(['attn-out', 'fc1', 'fc2', 'qkv']);
    expect(rows).toHaveLength(5 * 4 * 6);
  });

  it('more HBM bandwidth never slows a configuration; no T3 run beats its bound', () => {
    for (const sl of sublayers) {
      for (const c of ['sequential', 't3', 't3-mca', 't3-mca-adaptive']) {
        for (let i = 1; i < bandwidths.length; i++) expect(us(bandwidths[i]!, sl, c), `${sl} ${c}`).toBeLessThanOrEqual(us(bandwidths[i - 1]!, sl, c) * (1 + 1e-9));
      }
      for (const bw of bandwidths) for (const c of ['t3', 't3-mca', 't3-mca-adaptive']) expect(us(bw, sl, c)).toBeGreaterThanOrEqual(us(bw, sl, 'ideal-overlap-nmc'));
    }
  });

  it('adaptive MCA is never behind the better of FR-FCFS and MCA, and gains most where bandwidth is scarce', () => {
    for (const bw of bandwidths) for (const sl of sublayers) expect(us(bw, sl, 't3-mca-adaptive'), `${bw} ${sl}`).toBeLessThanOrEqual(Math.min(us(bw, sl, 't3'), us(bw, sl, 't3-mca')) * 1.005);
    const gain = (bw: number) => geomean(bw, 't3-mca-adaptive') / geomean(bw, 't3-mca');
    // Half the published bandwidth: MCA holds back the critical reduce-scatter of the attention
    // output projection (slower than sequential), which the adaptive policy does not.
    expect(gain(512)).toBeGreaterThan(1.02);
    expect(us(512, 'attn-out', 't3-mca')).toBeGreaterThan(us(512, 'attn-out', 'sequential'));
    expect(us(512, 'attn-out', 't3-mca-adaptive')).toBeLessThan(us(512, 'attn-out', 'sequential'));
    // Twice the bandwidth: contention is gone, and the three arbitrations agree.
    for (const sl of sublayers) expect(us(2048, sl, 't3-mca-adaptive') / us(2048, sl, 't3')).toBeCloseTo(1, 2);
    expect(gain(512)).toBeGreaterThan(gain(2048));
  });
});
