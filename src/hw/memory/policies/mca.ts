import { DEFAULT_PRIORITY, registerArbitrationPolicy } from '../arbiter.js';
import { priorityLatencyNs, utilisationAtOccupancy } from '../latency.js';

/**
 * T3's memory-controller arbitration (mission.md §2): compute requests first (flow priority above
 * communication, priority-queue latency for the producer); communication issues only while the
 * queue occupancy stays under a threshold that shrinks with the producer's memory intensity, i.e.
 * its DRAM utilisation u1 in its first stage (measured before any communication starts):
 * q_th = occupancy_threshold x (1 - u1). A finite queue is why priority alone is not enough:
 * communication filling the queue would keep compute requests out. A request held back longer
 * than the starvation limit issues anyway.
 */
registerArbitrationPolicy({
  name: 'mca',
  description: 'T3 MCA: compute first; communication only under an occupancy threshold from the first stage, with a starvation limit',
  create: (config) => {
    let u1: number | undefined;
    let starvedSinceNs: number | undefined;
    // A cap below this leaves communication effectively blocked (a request every few µs).
    const blocked = 0.01;
    return {
      policy: 'mca',
      computePriority: DEFAULT_PRIORITY + 1,
      commPriority: DEFAULT_PRIORITY,
      producerLatencyNs: (idle, uTotal, uProducer) => priorityLatencyNs(idle, uTotal, uProducer),
      latencyLaw: 'priority',
      firstStage: (u) => {
        if (u1 === undefined) u1 = u;
      },
      commCap(s) {
        if (u1 === undefined) return undefined; // still measuring: the first stage has no communication
        const threshold = utilisationAtOccupancy(config.mca.occupancy_threshold * (1 - u1));
        const cap = Math.max(0, threshold - s.uProducer);
        if (cap < blocked && s.commActive()) {
          starvedSinceNs ??= s.nowNs;
          if (s.nowNs - starvedSinceNs >= config.mca.starvation_limit_ns) {
            starvedSinceNs = undefined;
            return undefined; // the held requests issue for one sample period
          }
        } else starvedSinceNs = undefined;
        return cap;
      },
    };
  },
});

