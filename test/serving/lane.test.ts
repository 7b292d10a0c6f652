import { describe, expect, it } from 'vitest';
import { Simulator } from '../../src/core/simulator.js';
import { Lane, type LaneIteration } from '../../src/sw/serving/lane.js';

/**
 * A lane's wake-ups (src/sw/serving/lane.ts): a retimed iteration leaves its earlier wake-up in the
 * event queue, and that one must do nothing, even once the lane runs a later iteration (wake-ups
 * are reused once fired).
 */
describe('serving lane', () => {
  it('a stale wake-up neither ends the retimed iteration early nor the next one', () => {
    const sim = new Simulator();
    const seen: LaneIteration[] = [];
    const lane = new Lane(sim, 'a', (_lane, it) => seen.push(it));
    const ends: number[] = [];
    // 100 ns alone: a wake-up at 100. At 10 ns (a tenth done) the rest is retimed to 50 ns a whole
    // iteration: 45 ns more, so it ends at 55; the wake-up at 100 is stale.
    lane.start(100, 100, 'first', 1, () => {
      ends.push(sim.nowNs);
      // The next iteration (100 ns) runs across the stale wake-up's time: it must end at 155.
      lane.start(100, 100, 'second', 1, () => ends.push(sim.nowNs));
    });
    sim.at(10, () => lane.retime(50, 50));
    sim.run();
    expect(ends).toHaveLength(2);
    expect(ends[0]).toBeCloseTo(55, 9);
    expect(ends[1]).toBeCloseTo(155, 9);
    expect(seen.map((it) => it.label)).toEqual(['first', 'second']);
    expect(seen[1]!.startNs).toBeCloseTo(55, 9);
    expect(lane.busy).toBe(false);
    expect(lane.busyNs).toBeCloseTo(155, 9);
  });

  it('a host phase starts the GPU work once, at its end', () => {
    const sim = new Simulator();
    const seen: LaneIteration[] = [];
    const lane = new Lane(sim, 'a', (_lane, it) => seen.push(it));
    let done = 0;
    // 30 ns of host time, then 70 ns of GPU work: recorded from 30 to 100, its host phase from 0.
    lane.start(70, 70, 'it', 1, () => done++, undefined, 30);
    sim.run();
    expect(done).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.hostStartNs).toBe(0);
    expect(seen[0]!.startNs).toBeCloseTo(30, 9);
    expect(seen[0]!.endNs).toBeCloseTo(100, 9);
  });
});
