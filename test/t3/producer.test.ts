import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { System } from '../../src/hw/system.js';
import { ringSchedule } from '../../src/hw/t3/address-map.js';
import { producerGemm } from '../../src/hw/t3/producer-gemm.js';
import { runProducer } from '../../src/hw/t3/producer.js';
import { sublayerGemm, sublayerK } from '../../src/study/t3/sublayers.js';
import { getModel } from '../../src/sw/models/index.js';

const hw = loadHardware('t3-baseline');

describe('T3 producer, output map and sub-layers', () => {
  it('runs a GEMM as segments in exactly the time Gpu.launch runs it as one flow', () => {
    const p = producerGemm(hw, { m: 4096, n: 4096, k: 2048, dtype: 'fp16' }, { uncachedOutput: false });
    const a = new System(hw, 1);
    let launchNs = 0;
    a.gpus[0]!.launch(p.kernel, { onComplete: (r) => (launchNs = r.endNs) });
    a.sim.run();
    const b = new System(hw, 1);
    let segNs = 0;
    const cuts = [0, 100, 333, 700, p.tiles];
    runProducer({
      system: b,
      gpu: 0,
      kernel: p.kernel,
      tiles: p.tiles,
      stages: [cuts.slice(1, 3).map((to, i) => ({ from: cuts[i]!, to, output: { kind: 'write' as const } })), ...cuts.slice(3).map((to, i) => [{ from: cuts[i + 2]!, to, output: { kind: 'write' as const } }])],
      batchesPerSegment: 4,
      priority: 1,
      latency: { hiddenNs: 0, iterationNs: 0 },
      onComplete: (r) => (segNs = r.endNs),
    });
    b.sim.run();
    expect(segNs).toBeCloseTo(launchNs, 3);
    expect(b.sim.stats.get('gpu0.hbm.read_bytes')).toBeCloseTo(p.kernel.hbmReadBytes, 0);
    expect(b.sim.stats.get('gpu0.hbm.write_bytes')).toBeCloseTo(p.kernel.hbmWriteBytes, 0);
  });

  it('uncached outputs never cost input reads, and reads never drop below the compulsory ones', () => {
    for (const k of [256, 1024, 2128, 4096, 8192]) {
      const shape = { m: 8192, n: 4256, k, dtype: 'fp16' as const };
      const cached = producerGemm(hw, shape, { uncachedOutput: false });
      const uncached = producerGemm(hw, shape, { uncachedOutput: true });
      expect(uncached.kernel.hbmReadBytes).toBeLessThanOrEqual(cached.kernel.hbmReadBytes);
      expect(cached.kernel.hbmReadBytes).toBeLessThanOrEqual(cached.gemmTsReadBytes);
      expect(uncached.kernel.hbmReadBytes).toBeGreaterThanOrEqual((8192 * k + k * 4256) * 2);
    }
  });

  it('maps every chunk to one ring step per GPU; the last step leaves GPU p the reduced chunk p+1', () => {
    const rings = [
      [0, 1, 2, 3],
      [0, 3, 2, 1],
    ];
    const s = ringSchedule({ rings, tiles: 100, staggered: true, firstChunk: 'dma' });
    expect(s.subChunks).toHaveLength(8);
    expect(s.subChunks[7]!.endTile).toBe(100);
    for (const [gpu, map] of s.maps) {
      expect(new Set(map.order).size).toBe(8);
      // Staggered: steps are non-decreasing in dispatch order.
      for (let i = 1; i < map.order.length; i++) expect(map.stepOf[map.order[i]!]).toBeGreaterThanOrEqual(map.stepOf[map.order[i - 1]!]!);
      rings.forEach((ring, r) => {
        const p = ring.indexOf(gpu);
        const owned = s.subChunks.filter((c) => c.ring === r && map.mappingOf[c.id] === 'local');
        expect(owned.map((c) => c.chunk)).toEqual([(p + 1) % 4]);
        // A chunk's successor handles it one step later.
        for (const c of s.subChunks.filter((x) => x.ring === r)) {
          const next = s.maps.get(map.successorOf[c.id]!)!;
          if (map.stepOf[c.id]! < 3) expect(next.stepOf[c.id]).toBe(map.stepOf[c.id]! + 1);
        }
      });
    }
    expect(() => ringSchedule({ rings, tiles: 5, staggered: true, firstChunk: 'dma' })).toThrow(/fewer than the 8 chunks/);
  });

  it('shapes the Megatron sub-layers (row-parallel GEMMs with a [tokens, hidden] output)', () => {
    const tnlg = getModel('t-nlg-17b');
    expect(sublayerGemm('t-nlg-17b', 8, 'fc2', 8192)).toMatchObject({ m: 8192, n: 4256, k: 2128 });
    expect(sublayerK(tnlg, 8, 'attn-out')).toBe(532);
    expect(sublayerK(tnlg, 8, 'qkv')).toBe(3 * 532);
    // PaLM: SwiGLU doubles FC-1; one key/value head replicated on every rank.
    const palm = getModel('palm-540b');
    expect(sublayerK(palm, 32, 'fc1')).toBe((2 * palm.ffnHidden) / 32);
    expect(sublayerK(palm, 32, 'qkv')).toBe((48 * 256) / 32 + 2 * 256);
  });
});
