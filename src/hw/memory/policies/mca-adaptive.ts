import { arbitrationPolicy, registerArbitrationPolicy } from '../arbiter.js';

/**
 * MCA that knows which side is critical: T3's `mca` (compute first, communication under the
 * first-stage occupancy threshold) while the GEMM is the critical side, `fair` (one queue, no cap)
 * while the communication is.
 *
 * Why: `mca` caps communication by the producer's intensity alone, so beside a short,
 * memory-intensive GEMM (an attention output projection, k = hidden / TP) it holds back the
 * reduce-scatter that is the sub-layer's critical path, and the sub-layer ends later than under
 * `fair` (t3-baseline, Mega-GPT-2 attn-out, TP 8: 1.25x against 1.33x). Protecting the producer
 * only pays while the producer is the critical path.
 *
 * Which side is critical comes from the work left (Sample.workLeft, reported by the fused run as a
 * tracker and DMA command table know it): the communication is critical when what it has left,
 * even at the links' full rate, outlasts the GEMM's remaining time by more than the ring step that
 * follows the GEMM's end anyway. Nothing here is tuned: the rates are the hardware's, the GEMM's
 * pace is its own so far. A lag alone (chunks finished but not yet forwarded) was tried first and
 * is not enough: the communication falls a step behind for a while beside GEMMs that are the
 * critical side, and catches up before they end (docs/t3.md).
 */
registerArbitrationPolicy({
  name: 'mca-adaptive',
  description: 'MCA while the GEMM is the critical side; fair (one queue, no cap) while the communication left outlasts it',
  create: (config) => {
    const mca = arbitrationPolicy('mca').create(config);
    const fair = arbitrationPolicy('fair').create(config);
    let rules = mca;
    return {
      policy: 'mca-adaptive',
      computePriority: mca.computePriority,
      commPriority: mca.commPriority,
      producerLatencyNs: (idle, uTotal, uProducer) => rules.producerLatencyNs(idle, uTotal, uProducer),
      firstStage: (u) => mca.firstStage(u),
      commCap(s) {
        // mca is asked every sample, so its starvation clock stays true while fair's rules hold.
        const cap = mca.commCap(s);
        const w = s.workLeft();
        rules = w !== undefined && w.commNs - w.commTailNs > w.producerNs ? fair : mca;
        return rules === mca ? cap : fair.commCap(s);
      },
      active: () => rules,
    };
  },
});
