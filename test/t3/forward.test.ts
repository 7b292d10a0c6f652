import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { runSublayer } from '../../src/study/t3/configs.js';
import { sublayerGemm } from '../../src/study/t3/sublayers.js';

/**
 * `t3.forward: tiles` (the default): a chunk's DMA command fires on its first complete batch of
 * tiles and moves each batch once the tracker has seen it complete. Forwarding whole chunks
 * (`chunk`, until session 39) let the rings drift out of step: two steps of one ring shared a
 * link and the successor waited for the whole of the later one (docs/t3.md).
 */
const hw = loadHardware('t3-baseline');
const chunkHw = loadHardware('t3-baseline', ['t3.forward=chunk']);

describe('T3 forwards a chunk\'s tiles as they complete', () => {
  it('T3\'s own reduce-scatter alone runs at the links\' rate; forwarding whole chunks it drifts far behind', () => {
    // T-NLG FC-2 at TP 32, 4096 tokens: 2 rings (both directions) of 32 ranks.
    const shape = sublayerGemm('t-nlg-17b', 32, 'fc2', 4096);
    const outBytes = shape.m * shape.n * 2;
    // Each GPU sends (n - 1) blocks of output / (2 rings x n) over each of its two links.
    const linkUs = ((31 / 32) * (outBytes / 2)) / (hw.interconnect.link_gbps * 1e3);
    const rsAloneUs = (c: typeof hw) => {
      const [r] = runSublayer(c, shape, 32, ['ideal-rs-nmc']);
      return r!.rs_end_us - r!.gemm_us;
    };
    const tiles = rsAloneUs(hw);
    expect(tiles).toBeGreaterThanOrEqual(linkUs);
    expect(tiles).toBeLessThan(linkUs * 1.02); // one setup, one latency and a batch beyond the links
    expect(rsAloneUs(chunkHw)).toBeGreaterThan(linkUs * 1.5); // 365 us against 225
  });

  it.each(['fc2', 'attn-out'] as const)('T-NLG at TP 32 and 4096 tokens, %s: T3 is faster than sequential and never faster than its bound; the same bytes move', (sublayer) => {
    const shape = sublayerGemm('t-nlg-17b', 32, sublayer, 4096);
    const [seq, t3, adaptive, serial, bound] = runSublayer(hw, shape, 32, ['sequential', 't3', 't3-mca-adaptive', 'ideal-rs-nmc', 'ideal-overlap-nmc']);
    // Forwarding whole chunks, T3 took 640.3 (fc2) and 634.0 us (attn-out: slower than sequential's 589.7).
    expect(t3!.time_us).toBeLessThan(seq!.time_us);
    expect(adaptive!.time_us).toBeLessThan(seq!.time_us);
    expect(t3!.time_us).toBeGreaterThanOrEqual(bound!.time_us);
    expect(adaptive!.time_us).toBeGreaterThanOrEqual(bound!.time_us);
    expect(t3!.tracker_fallback_chunks).toBe(0);
    // Conservation: the ring's payload and the near-memory updates are the RS's, whoever runs it.
    expect(t3!.link_bytes).toBe(seq!.link_bytes);
    expect(t3!.link_bytes).toBe(serial!.link_bytes);
    expect(t3!.dram_update_bytes).toBe(serial!.dram_update_bytes);
    expect(t3!.dram_read_bytes).toBe(serial!.dram_read_bytes);
    expect(t3!.dram_write_bytes).toBe(serial!.dram_write_bytes);
  });

  it('MI300X, T-NLG FC-2 at 2048 tokens: a larger tracker table no longer slows T3', () => {
    // Forwarding whole chunks: 162.7 us with 256 entries, 150.3 us with 8 (bound 134.9).
    const mi300x = loadHardware('mi300x');
    const small = loadHardware('mi300x', ['t3.tracker_entries=8']);
    const shape = sublayerGemm('t-nlg-17b', 8, 'fc2', 2048);
    const [t3, bound] = runSublayer(mi300x, shape, 8, ['t3', 'ideal-overlap-nmc']);
    const [t3Small] = runSublayer(small, shape, 8, ['t3']);
    expect(t3!.time_us).toBeLessThanOrEqual(t3Small!.time_us * 1.005);
    expect(t3Small!.time_us).toBeGreaterThanOrEqual(bound!.time_us);
    expect(t3!.time_us).toBeGreaterThanOrEqual(bound!.time_us);
    expect(t3!.time_us).toBeLessThan(bound!.time_us * 1.02);
    expect(t3!.tracker_fallback_chunks).toBe(0);
  });

  it('moves the same bytes forwarding tiles or whole chunks (only the timing differs)', () => {
    const shape = sublayerGemm('mega-gpt2-8.3b', 8, 'attn-out', 8192);
    const [a] = runSublayer(hw, shape, 8, ['t3']);
    const [b] = runSublayer(chunkHw, shape, 8, ['t3']);
    for (const k of ['dram_read_bytes', 'dram_write_bytes', 'dram_update_bytes', 'gemm_read_bytes', 'link_bytes'] as const) expect(a![k]).toBe(b![k]);
    expect(a!.time_us).not.toBe(b!.time_us);
  });
});
