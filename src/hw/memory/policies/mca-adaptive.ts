import { arbitrationPolicy, registerArbitrationPolicy } from '../arbiter.js';

/**
 * MCA that knows which side is critical: T3's `mca` (compute first, communication under the
 * first-stage occupancy threshold), except that the cap is lifted while the communication lags the
 * producer by more than one step.
 *
 * Why: `mca` caps communication by the producer's intensity alone, so beside a short,
 * memory-intensive GEMM (an attention output projection, k = hidden / TP) it holds back the
 * reduce-scatter that is the sub-layer's critical path, and the sub-layer ends later than under
 * `fair` (t3-baseline, Mega-GPT-2 attn-out, TP 8: 1.25x against 1.33x). Protecting the producer
 * only pays while the producer is the critical path.
 *
 * How the controller knows: the tracker sees which chunks the producer has finished and which of
 * them the DMA has delivered downstream; that backlog, in ring steps, is `commBacklogSteps`. In a
 * pipeline that keeps up, one step is in flight (the chunk just finished is forwarded while the
 * next is computed); more than one means the communication is falling behind, and the cap goes
 * until it has caught up. The threshold of one step is the pipeline's depth, not a tuned constant.
 * Compute keeps its priority throughout, so the producer still sees the priority-queue latency.
 */
registerArbitrationPolicy({
  name: 'mca-adaptive',
  description: 'MCA, but communication is uncapped while it lags the producer by more than one ring step (the critical side)',
  create: (config) => {
    const mca = arbitrationPolicy('mca').create(config);
    return {
      policy: 'mca-adaptive',
      computePriority: mca.computePriority,
      commPriority: mca.commPriority,
      producerLatencyNs: (idle, uTotal, uProducer) => mca.producerLatencyNs(idle, uTotal, uProducer),
      latencyLaw: mca.latencyLaw,
      firstStage: (u) => mca.firstStage(u),
      commCap(s) {
        // Asked every sample, so its starvation clock stays true while the cap is lifted.
        const cap = mca.commCap(s);
        return s.commBacklogSteps() > 1 ? undefined : cap;
      },
    };
  },
});
