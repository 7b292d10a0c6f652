import { describe, expect, it } from 'vitest';
import { GOODPUT_MIN_RATE, searchGoodput } from '../../src/sw/serving/serve.js';
import { bracketBelow } from '../../src/study/serve/runs.js';

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

describe("the study's bracket below its lowest rate", () => {
  it('halves until a rate meets the target, so the bisection after keeps its whole budget', () => {
    // A node that meets the SLOs up to 0.3 req/s; the sweep's lowest rate, 1.0, misses.
    const probed: number[] = [];
    const meets = (rate: number) => (probed.push(rate), rate <= 0.3);
    expect(bracketBelow(meets, 1)).toEqual({ lo: 0.25, hi: 0.5 });
    expect(probed).toEqual([0.5, 0.25]);
    // Three bisections of that bracket land within 1/8 of it, where one (what the search had left
    // until session 40 after finding the bracket within a 3-probe budget) lands within 1/2.
    const g = searchGoodput((rate) => ({ attainment: rate <= 0.3 ? 1 : 0, summary: {} }), { target: 0.9, startRate: 1, bracket: bracketBelow((r) => r <= 0.3, 1), maxProbes: 3 });
    expect(g.goodput_req_s).toBeLessThanOrEqual(0.3);
    expect(0.3 - g.goodput_req_s).toBeLessThanOrEqual((0.5 - 0.25) / 8);
    // Nothing meets down to the search's floor: a goodput of 0, as the search reports one.
    const none = bracketBelow(() => false, 1);
    expect(none.lo).toBe(0);
    expect(none.hi).toBeGreaterThanOrEqual(GOODPUT_MIN_RATE);
    expect(none.hi).toBeLessThan(2 * GOODPUT_MIN_RATE);
    expect(searchGoodput(() => ({ attainment: 0, summary: {} }), { target: 0.9, startRate: 1, bracket: none, maxProbes: 3 }).goodput_req_s).toBe(0);
  });
});
