import { DEFAULT_PRIORITY, registerArbitrationPolicy } from '../arbiter.js';
import { fcfsLatencyNs } from '../latency.js';

/** FR-FCFS-like: one queue; bandwidth shared max-min per byte; everyone sees FCFS latency. */
registerArbitrationPolicy({
  name: 'fair',
  description: 'FR-FCFS-like: one queue, bandwidth shared per byte, FCFS latency for everyone',
  create: () => ({
    policy: 'fair',
    computePriority: DEFAULT_PRIORITY,
    commPriority: DEFAULT_PRIORITY,
    producerLatencyNs: (idle, uTotal) => fcfsLatencyNs(idle, uTotal),
    latencyLaw: 'fcfs',
    commCap: () => undefined,
    firstStage: () => {},
  }),
});

