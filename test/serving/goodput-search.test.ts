import { describe, expect, it } from 'vitest';
import { searchGoodput } from '../../src/sw/serving/serve.js';

/**
 * The goodput search against a known answer: every rate up to `capacity` meets the SLO target,
 * every rate above misses it. Whatever the start, the search must bracket the capacity and report
 * a rate that meets the target and lies within the tolerance below it.
 */
function searchAgainst(capacity: number, startRate: number, maxProbes?: number) {
  const probed: number[] = [];
  const result = searchGoodput(
    (rate) => {
      probed.push(rate);
      return { attainment: rate <= capacity ? 1 : 0, summary: {} };
    },
    { target: 0.9, startRate, relTolerance: 0.05, maxProbes },
  );
  return { result, probed };
}

describe('goodput search', () => {
  for (const startRate of [0.001, 0.5, 2, 1000]) {
    it(`finds a capacity of 10 req/s within 5% from a start of ${startRate} req/s`, () => {
      const { result, probed } = searchAgainst(10, startRate);
      expect(result.goodput_req_s).toBeLessThanOrEqual(10);
      expect(result.goodput_req_s).toBeGreaterThanOrEqual(10 * 0.95);
      // Both sides of the answer were probed: it is bracketed, not the last probe of a budget.
      expect(probed.some((r) => r > 10)).toBe(true);
      expect(probed.some((r) => r <= 10)).toBe(true);
    });
  }

  it('keeps the probe budget where bracketing is quick', () => {
    const { probed } = searchAgainst(10, 2, 6);
    expect(probed.length).toBeLessThanOrEqual(6);
  });

  it('reports zero below the slowest rate it tries', () => {
    expect(searchAgainst(1e-5, 1).result.goodput_req_s).toBe(0);
  });
});
