import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { runT3Experiment, t3ExperimentSchema } from '../../src/study/t3/experiment.js';
import { projectIteration, PHASE_SUBLAYERS, sublayerTimeNs } from '../../src/study/t3/projection.js';
import { PUBLISHED_T3 } from '../../src/study/t3/published.js';
import type { Sublayer } from '../../src/study/t3/sublayers.js';
import { buildPrefillTrace, buildTrainingTrace, getModel } from '../../src/sw/index.js';
import { replayTrace } from '../../src/trace/replay.js';
import { expectOneLineError, silica } from '../helpers/cli.js';

/**
 * The end-to-end projection (src/study/t3/projection.ts) is Amdahl over the replayed iteration:
 * iteration' = iteration - sum_s time_s (1 - 1 / speedup_s), one row per configuration.
 */
const hw = loadHardware('t3-baseline');
const SMALL = { model: 'mega-gpt2-8.3b', tp: 8, batch: 2, seq: 512 } as const;

describe('T3 end-to-end projection', () => {
  it('finds every eligible sub-layer in the replayed trace (a renamed kernel would silently zero it)', () => {
    const model = getModel(SMALL.model);
    for (const phase of ['train', 'prefill'] as const) {
      const trace = phase === 'train' ? buildTrainingTrace(model, { batch: SMALL.batch, seq: SMALL.seq, precision: 'mixed', tp: SMALL.tp }) : buildPrefillTrace(model, { batch: SMALL.batch, seq: SMALL.seq, tp: SMALL.tp });
      const replay = replayTrace(trace, hw, { gpus: SMALL.tp });
      let sum = 0;
      for (const s of PHASE_SUBLAYERS[phase]) {
        const ns = sublayerTimeNs(replay, s);
        expect(ns, `${phase} ${s}`).toBeGreaterThan(0);
        sum += ns;
      }
      // Rank 0's kernels run one at a time on its stream: the sub-layers are part of the iteration.
      expect(sum).toBeLessThan(replay.totalNs);
    }
  });

  it('is Amdahl: no gain at speedup 1, the closed form at any other, 1 / (1 - share) at the limit, monotone', () => {
    const speedups: Record<string, number> = { none: 1, twice: 2, limit: Infinity, slower: 0.8 };
    const o = { ...SMALL, phase: 'train' as const };
    const rows = projectIteration(hw, o, Object.keys(speedups), (_s: Sublayer, c) => speedups[c]!);
    expect(rows.map((r) => r.configuration)).toEqual(Object.keys(speedups));
    const [none, twice, limit, slower] = rows;
    // One replay for all: the same iteration and eligible time in every row.
    for (const r of rows) {
      expect(r.iteration_ms).toBe(none!.iteration_ms);
      expect(r.eligible_share).toBeCloseTo(r.eligible_ms / r.iteration_ms, 12);
    }
    expect(none!.speedup).toBe(1);
    expect(none!.projected_iteration_ms).toBe(none!.iteration_ms);
    const share = none!.eligible_share;
    expect(twice!.speedup).toBeCloseTo(1 / (1 - share / 2), 12);
    expect(limit!.speedup).toBeCloseTo(1 / (1 - share), 12);
    expect(limit!.projected_iteration_ms).toBeCloseTo(none!.iteration_ms - none!.eligible_ms, 9);
    // A design slower than sequential on its sub-layers lengthens the iteration.
    expect(slower!.speedup).toBeLessThan(1);
    expect(slower!.speedup).toBeLessThan(none!.speedup);
    expect(none!.speedup).toBeLessThan(twice!.speedup);
    expect(twice!.speedup).toBeLessThan(limit!.speedup);
  });

  it('projects each configuration of the study; a configuration the study did not run is run for it, with the same speedup', async () => {
    const base = {
      kind: 't3',
      tokens: 4096,
      hardware: [{ hw: 't3-baseline', models: [{ model: 'mega-gpt2-8.3b', tp: [8] }] }],
      sublayers: ['attn-out', 'fc2'],
      sensitivity: [],
      figures: false,
      jobs: 1,
    };
    const projection = { hw: 't3-baseline', tp: 8, models: ['mega-gpt2-8.3b'], phases: ['prefill'], batch: 4, seq: 1024 };
    // The study runs t3 and t3-mca; by default both are projected, from the study's rows.
    const both = await runT3Experiment(t3ExperimentSchema.parse({ ...base, configurations: ['sequential', 't3', 't3-mca'], projection }));
    const rows = both.summary!.projection as Array<{ configuration: string; speedup: number }>;
    expect(rows.map((r) => r.configuration)).toEqual(['t3', 't3-mca']);
    // A study of t3-mca alone, asked to project t3 too: t3's sub-layers are run for the projection.
    const asked = await runT3Experiment(t3ExperimentSchema.parse({ ...base, configurations: ['sequential', 't3-mca'], projection: { ...projection, configurations: ['t3', 't3-mca'] } }));
    expect(asked.summary!.projection).toEqual(both.summary!.projection);
    for (const r of rows) expect(r.speedup).toBeGreaterThan(1);
  });

  it('refuses sequential as a configuration to project, with one line naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-projection-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'kind: t3\nhardware: [{ hw: t3-baseline, models: [{ model: mega-gpt2-8.3b, tp: [8] }] }]\nprojection: { hw: t3-baseline, models: [mega-gpt2-8.3b], configurations: [sequential] }\n');
    try {
      expectOneLineError(silica(['run', file, '--out', join(dir, 'out')]), /projection\.configurations\.0.*sequential is the baseline/);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('T3 end-to-end projection against the published figures', () => {
  // mission.md §2 (secondary reading): T3-MCA gains up to 12% of a training iteration and up to
  // 15% of prompt-phase inference over the paper's models. Those are maxima, so silica's
  // Mega-GPT-2 (TP 8, 8 x 1024 tokens, the study's setup) should not exceed them by more than two
  // points, and should reach at least half of them (a gain of the same order, not a rounding).
  it('Mega-GPT-2 under T3-MCA: at most the published maxima (+2 points), at least half of them', async () => {
    const config = t3ExperimentSchema.parse({
      kind: 't3',
      tokens: 8192,
      hardware: [{ hw: 't3-baseline', models: [{ model: 'mega-gpt2-8.3b', tp: [8] }] }],
      configurations: ['sequential', 't3-mca'],
      projection: { hw: 't3-baseline', tp: 8, models: ['mega-gpt2-8.3b'], phases: ['train', 'prefill'], batch: 8, seq: 1024 },
      sensitivity: [],
      figures: false,
      jobs: 1,
    });
    const r = await runT3Experiment(config);
    const gain = (phase: string) => (r.summary!.projection as Array<{ phase: string; speedup: number }>).find((p) => p.phase === phase)!.speedup - 1;
    const published = PUBLISHED_T3.end_to_end;
    expect(gain('train')).toBeLessThanOrEqual(published.training_max + 0.02);
    expect(gain('train')).toBeGreaterThanOrEqual(published.training_max / 2);
    expect(gain('prefill')).toBeLessThanOrEqual(published.prompt_inference_max + 0.02);
    expect(gain('prefill')).toBeGreaterThanOrEqual(published.prompt_inference_max / 2);
    // Prompt inference has no backward or optimizer, so the eligible sub-layers are a larger share.
    expect(gain('prefill')).toBeGreaterThan(gain('train'));
  });
});
