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
    // The part's default collective CU count, overrun by a smaller part, is named as the field it is.
    expectOneLineError(silica(['collective', 'all-reduce', '--set', 'compute.cus=16']), /^silica: interconnect\.collective\.cus: expected a whole number from 1 to compute\.cus \(16\), got 32$/);
    expectOneLineError(silica(['collective', 'all-reduce', '--cus', '500']), /^silica: --cus: expected a whole number from 1 to compute\.cus \(304\), got 500$/);
    // DMA engines hold no CUs: the CU engine's default count does not apply to them.
    expect(silicaJson<{ engine: string }>(['collective', 'all-reduce', '--engine', 'dma', '--set', 'compute.cus=16']).engine).toBe('dma');
    // cu-overlap cuts the GEMM into row blocks: more blocks than rows would be empty ones.
    expectOneLineError(silica(['collective', 'cu-overlap', '--m', '64', '--chunks', '100']), /^silica: --chunks: expected at most -m \(64\) row blocks, got 100$/);
    // An empty buffer moves nothing: 0 GB/s is no measurement (kernel stream refuses it too).
    expectOneLineError(silica(['collective', 'all-reduce', '--bytes', '0']), /^silica: --bytes: expected a positive size, got 0 bytes$/);
    expectOneLineError(silica(['collective', 'send-recv', '--bytes', '0B']), /^silica: --bytes: expected a positive size, got 0 bytes$/);
    expectOneLineError(silica(['collective', 'cu-overlap', '--hw', 'mi100', '--dtype', 'fp8']), /^silica: --dtype: mi100 has no fp8 rate \(expected one of fp32, tf32, fp16, bf16\), got fp8$/);
    // A default the user never typed is named as the default.
    expectOneLineError(silica(['collective', 'cu-overlap', '--set', 'compute.cus=12']), /^silica: --overlap-cus \(not given: the default 8,16\): expected fewer than the part's 12 CUs, got 16$/);
    expectOneLineError(silica(['collective', 'cu-overlap', '--set', 'compute.cus=12', '--overlap-cus', '4,16']), /^silica: --overlap-cus: expected fewer than the part's 12 CUs, got 16$/);
  });

  it('names --src and --dst when they leave the group or coincide (the engine named only a rank)', () => {
    expectOneLineError(silica(['collective', 'send-recv', '--src', '0', '--dst', '0']), /^silica: --dst: expected the receiver to differ from the sender, got --src 0 and --dst 0$/);
    expectOneLineError(silica(['collective', 'send-recv', '--src', '1']), /^silica: --src: expected the receiver to differ from the sender, got --src 1 and --dst 1 \(the default\)$/);
    expectOneLineError(silica(['collective', 'send-recv', '--dst', '9']), /^silica: --dst: expected a rank of the 8 GPUs \(0 to 7; --gpus sets them\), got 9$/);
    expectOneLineError(silica(['collective', 'broadcast', '--gpus', '4', '--src', '7']), /^silica: --src: expected a rank of the 4 GPUs \(0 to 3; --gpus sets them\), got 7$/);
  });

  it('refuses a flag the chosen kind would ignore', () => {
    expectOneLineError(silica(['collective', 'all-reduce', '--src', '1']), /^silica: --src: not read by all-reduce \(only by broadcast, send-recv\)$/);
    expectOneLineError(silica(['collective', 'broadcast', '--dst', '2']), /^silica: --dst: not read by broadcast \(only by send-recv\)$/);
    expectOneLineError(silica(['collective', 'all-gather', '--chunks', '4']), /^silica: --chunks: not read by all-gather \(only by cu-overlap\)$/);
    expectOneLineError(silica(['collective', 'cu-overlap', '--bytes', '1GiB']), /^silica: --bytes: not read by cu-overlap \(only by the collectives\)$/);
    expectOneLineError(silica(['collective', 'all-reduce', '--sweep', '8:64', '--bytes', '1MiB']), /^silica: --bytes: not with --sweep/);
    expectOneLineError(silica(['collective', 'all-reduce', '--engine', 'dma', '--cus', '8']), /^silica: --cus: not with --engine dma/);
    // The defaults still apply where the flags are left out, and the flags are read where they apply.
    const sendRecv = silicaJson<{ gpus: number; bytes: number; algo: string; engine: string }>(['collective', 'send-recv', '--gpus', '2', '--src', '1', '--dst', '0', '--json']);
    expect(sendRecv).toMatchObject({ gpus: 2, bytes: 2 ** 30, algo: 'direct', engine: 'cu' });
  });
});
