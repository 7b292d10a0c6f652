import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica, silicaJson } from '../helpers/cli.js';

describe('silica collective', () => {
  it('prints the nccl-tests figures as JSON', () => {
    const r = silicaJson<Record<string, number | string>>(['collective', 'all-reduce', '--hw', 'mi300x', '--gpus', '8', '--bytes', '1GiB', '--algo', 'ring', '--engine', 'cu', '--cus', '32']);
    for (const key of ['time_us', 'alg_bw_gbps', 'bus_bw_gbps', 'link_bytes', 'hbm_bytes']) expect(typeof r[key]).toBe('number');
    expect(Math.abs((r.bus_bw_gbps as number) / (((r.alg_bw_gbps as number) * 2 * 7) / 8) - 1)).toBeLessThan(1e-4);
    expect(Math.abs((r.alg_bw_gbps as number) / (2 ** 30 / ((r.time_us as number) * 1000)) - 1)).toBeLessThan(1e-4);
    expect(r.algo).toBe('ring');
    expect(r.engine).toBe('cu');
    expect(r.cus).toBe(32);
  });

  it('--sweep prints an nccl-tests style table in x2 steps', () => {
    const r = silica(['collective', 'all-reduce', '--hw', 'a100-sxm', '--sweep', '8:1MiB']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/size\(B\).*count.*type.*time\(us\).*algbw\(GB\/s\).*busbw\(GB\/s\)/);
    const rows = lines.slice(2).map((l) => l.trim().split(/\s+/));
    expect(rows.map((c) => Number(c[0]))).toEqual(Array.from({ length: 18 }, (_, i) => 8 * 2 ** i));
  });

  it('cu-overlap reports the T3 experiment next to the published speedups', () => {
    const r = silicaJson<{ ideal_speedup: number; overlap: Array<{ cus: number; speedup: number }>; published: { ideal: number } }>([
      'collective',
      'cu-overlap',
      '--hw',
      't3-baseline',
      '--gpus',
      '8',
      '--m',
      '1024',
      '--chunks',
      '4',
    ]);
    expect(r.published.ideal).toBe(1.67);
    expect(r.overlap.map((o) => o.cus)).toEqual([8, 16]);
    for (const o of r.overlap) {
      expect(o.speedup).toBeGreaterThan(0.5);
      // Overlap on CUs never beats the contention-free ideal.
      expect(o.speedup).toBeLessThanOrEqual(r.ideal_speedup + 1e-9);
    }
  });

  it('bad configurations give one-line errors', () => {
    expectOneLineError(silica(['collective', 'all-reduce', '--hw', 'mi300x', '--gpus', '16']), /--gpus: .*8 GPUs per node/);
    // Every GPU is simulated: enough nodes to hold 1024 ran for minutes.
    expectOneLineError(silica(['collective', 'all-reduce', '--gpus', '1024', '--set', 'interconnect.nodes=128']), /^silica: --gpus: expected at most 256 GPUs \(every one is simulated\), got 1024$/);
    expectOneLineError(silica(['collective', 'all-reduce', '--hw', 'mi300x', '--set', 'interconnect.topology=none']), /does not connect/);
    // cu-overlap cuts the GEMM into row blocks: more blocks than rows would be empty ones.
    expectOneLineError(silica(['collective', 'cu-overlap', '--m', '64', '--chunks', '100']), /--chunks: expected at most --m \(64\) row blocks, got 100/);
  });
});
