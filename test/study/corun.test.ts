import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { hbmBytesPerNs } from '../../src/hw/gpu/kernel-timing.js';
import { hbmKnee, hbmLoadShare } from '../../src/hw/memory/hbm-knee.js';
import { corunSchema, runCorun } from '../../src/study/corun.js';
import { aloneMhz } from '../../src/hw/corun.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange } from '../../src/hw/gpu/cu-mask.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { expectOneLineError, silica } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'silica-corun-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two copies on the H200 with its power cap lifted: only the HBM is shared. */
const copies = (cusA: number[]) =>
  corunSchema.parse({
    kind: 'corun',
    hw: 'h200-sxm',
    hw_overrides: { compute: { power: { cap_w: 1e12 } } },
    a: { op: 'stream', stream: 'copy', bytes: '1GiB' },
    b: { op: 'stream', stream: 'copy', bytes: '1GiB' },
    cus_a: cusA,
  });

describe('kind: corun (src/study/corun.ts)', () => {
  it('two copies share a saturated HBM by their CUs: the closed forms for 8|124 and 64|68', () => {
    const hw = loadHardware('h200-sxm');
    const capacity = hbmBytesPerNs(hw);
    const knee = hbmKnee(hw)!;
    const portPerCu = hw.compute.dram_gbps_per_cu!;
    // The HBM's knee gives each copy alone the share of its ports' demand s(n x port), and both
    // together s(132 x port): every SM's requests wait alike, so each copy keeps its ports' share.
    const share = (cus: number) => hbmLoadShare(cus * portPerCu, knee);
    const [r8, r64] = runCorun(copies([8, 64]));
    // Within 2%: launch latency and the partner's launch gaps.
    const near = (got: unknown, want: number) => expect(Math.abs((got as number) / want - 1)).toBeLessThan(0.02);
    near(r8!.a_slowdown, share(8) / share(132));
    near(r8!.b_slowdown, share(124) / share(132));
    // The whole chip's ports together draw the HBM's calibrated rate (the knee is set so), by SMs.
    near(r8!.a_gbps_per_cu_together, capacity / 132);
    near(r64!.a_slowdown, share(64) / share(132));
    near(r64!.b_slowdown, share(68) / share(132));
    expect(r64!.a_clock_mhz_together).toBe(1980);
  });

  it('reads the clock over lane A\'s window, when both lanes run: never above either lane\'s clock alone', () => {
    // At 120|12 the decode lane outlasts the prefill lane by far; its tail alone ran at 1980 MHz and
    // was counted, so the clock "together" read 1980 where the chip held 1605 beside the prefill GEMM.
    const config = corunSchema.parse({
      kind: 'corun',
      hw: 'h200-sxm',
      a: { op: 'gemm', m: 2048, n: 8192, k: 8192, dtype: 'bf16' },
      b: { op: 'gemm', m: 64, n: 8192, k: 28672, dtype: 'bf16' },
      cus_a: [64, 120],
    });
    const hw = loadHardware('h200-sxm');
    const layout = makeCuLayout(hw.compute);
    for (const row of runCorun(config)) {
      const [cusA, cusB] = [row.cus_a as number, row.cus_b as number];
      const side = (m: number, n: number, k: number, set: ReturnType<typeof cuRange>) => ({ kernels: [gemmCost(hw, { m, n, k, dtype: 'bf16' }, set)], set, reps: 20 });
      const aAlone = aloneMhz(hw, side(2048, 8192, 8192, cuRange(layout, 0, cusA)));
      const bAlone = aloneMhz(hw, side(64, 8192, 28672, cuRange(layout, cusA, cusB)));
      expect(row.a_clock_mhz_together as number, `${cusA}|${cusB}`).toBeLessThanOrEqual(Math.min(aAlone, bAlone));
    }
  });

  it('is deterministic, and a lane never runs faster beside the other than alone', () => {
    const config = copies([16, 40, 100]);
    const first = runCorun(config);
    expect(runCorun(config)).toEqual(first);
    for (const r of first) {
      expect(r.a_slowdown as number).toBeGreaterThanOrEqual(1);
      expect(r.b_slowdown as number).toBeGreaterThanOrEqual(1);
      expect((r.cus_a as number) + (r.cus_b as number)).toBe(132);
    }
  });

  it('refuses a split that leaves lane B no CUs, naming the field', () => {
    expect(silicaErrorOf(() => runCorun(copies([8, 132])))).toMatch(/^cus_a\.1: expected fewer than 132 \(the CUs of .*\), got 132$/);
  });

  it('names the split and the lane whose CUs leave an MI300X XCD empty', () => {
    // Mask bit i lands on XCD i mod 8: lane A on CUs 0-3 has none on XCDs 4-7, lane B on 300-303 none on 0-3.
    const split = (cusA: number[]) => corunSchema.parse({ kind: 'corun', hw: 'mi300x', a: { op: 'gemm', m: 2048, n: 2048, k: 2048 }, b: { op: 'stream', stream: 'copy', bytes: '64MiB' }, cus_a: cusA });
    expect(silicaErrorOf(() => runCorun(split([152, 4])))).toMatch(/^cus_a\.1: lane A on CUs 0-3: CU mask leaves XCD 4, 5, 6, 7 without CUs/);
    expect(silicaErrorOf(() => runCorun(split([300])))).toMatch(/^cus_a\.0: lane B on CUs 300-303: CU mask leaves XCD 0, 1, 2, 3 without CUs/);
  });

  it('runs from the CLI, with a figure; bad input is one line and writes nothing', () => {
    const file = join(dir, 'split.yaml');
    writeFileSync(file, 'kind: corun\nhw: h200-sxm\na: { op: gemm, m: 2048, n: 8192, k: 8192 }\nb: { op: gemm, m: 64, n: 8192, k: 28672 }\ncus_a: [40, 88]\n');
    const out = join(dir, 'out');
    const r = silica(['run', file, '--out', out]);
    expect(r.code).toBe(0);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[0]).toMatch(/^hw,a_kernel,b_kernel,cus_a,cus_b,a_alone_us,b_alone_us,a_slowdown,b_slowdown,/);
    const svg = readFileSync(join(out, 'corun.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('slowdown');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'kind: corun\na: { op: gemm, m: 64, n: 64, k: 64 }\nb: { op: stream, bytes: 1GiB }\ncus_a: []\n');
    const badOut = join(dir, 'bad-out');
    expectOneLineError(silica(['run', bad, '--out', badOut]), /bad\.yaml: cus_a/);
    expect(() => readFileSync(join(badOut, 'results.csv'))).toThrow();
  });
});
