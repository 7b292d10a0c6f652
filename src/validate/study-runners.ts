import { HardwareCoster } from '../study/bert/coster.js';
import { simulateIteration } from '../study/bert/iteration.js';
import { bertPointSchema } from '../study/bert/point.js';
import { SilicaError } from '../core/errors.js';
import { registerRunner } from './runners.js';

/**
 * Runners that reproduce study-level figures through the studies' own APIs (the same code paths
 * `silica bert`, `silica t3`, `silica serve` and `silica collective` use).
 */
registerRunner('bert', (_hw, params, ctx) => {
  if (!ctx.hwRef) throw new SilicaError('validation runner bert: expected a hw for this point');
  const point = bertPointSchema.parse({ ...params, hw: ctx.hwRef });
  const r = simulateIteration(point, new HardwareCoster(ctx.hwRef, ctx.overlays));
  const byCategory = (cat: string) => r.cells.filter((c) => c.category === cat).reduce((s, c) => s + c.timeNs, 0) / 1000;
  return {
    iteration_ms: r.iterationNs / 1e6,
    samples_per_s: r.samplesPerSecond,
    gemm_ms: (byCategory('gemm') + byCategory('attention')) / 1000,
    optimizer_ms: byCategory('optimizer') / 1000,
  };
});
