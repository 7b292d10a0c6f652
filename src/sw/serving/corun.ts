import { makeResource, type Resource } from '../../core/flow-network.js';
import type { HardwareConfig } from '../../hw/config/schema.js';
import type { CuSet } from '../../hw/gpu/cu-mask.js';
import { CuSetMemo } from '../../hw/gpu/cu-set-memo.js';
import { Stream } from '../../hw/gpu/gpu.js';
import { System } from '../../hw/system.js';
import type { IterationCostModel, LaneStep } from './cost-model.js';

/**
 * Prefill and decode co-running on the same GPUs, on the hardware model.
 *
 * Each stream is an in-order queue of one layer's kernels and TP collectives (the program the
 * software layer lowers), bound to its CU set (a CU-masked stream). Kernels launch through
 * `Gpu.launch`: each is a flow whose progress is capped by its critical path on its own CU set and
 * which demands CU time on every XCD it has workgroups on and DRAM bandwidth on the shared HBM.
 * Collectives are flows over the GPU's links (aggregate xGMI bandwidth), capped at their isolated
 * rate. Co-running flows share what they both touch by weighted max-min fairness; the weights
 * follow who arbitrates:
 * - Disjoint CU masks: each stream owns its CUs, and only DRAM (and links) are shared. A memory
 *   controller serves requests in arrival order, so when it saturates each stream gets bandwidth in
 *   proportion to what it offers: weight = the kernel's isolated rate (processor sharing, every
 *   user slowed by the same factor). The paper's measured 2-5% decode / <=2% prefill slowdowns
 *   are of this kind.
 * - Overlapping masks (both streams unmasked): the workgroup dispatcher gives a later kernel only
 *   the CUs an earlier one leaves (Gpu's CU gate, src/hw/gpu/cu-gate.ts), so kernels whose grids
 *   fill the GPU take turns: a decode kernel waits for the prefill GEMM ahead of it to drain, the
 *   head-of-line blocking that makes CU masking worth having. Measured on an H200: unmasked
 *   prefill and decode lanes alternate kernel by kernel and together take as long as the two run
 *   one after the other (validation/shared-sms.yaml).
 *
 * Both streams loop over their layer until each has completed `LAYERS` layers while the other was
 * busy the whole time; the per-layer times give each stream's co-run slowdown against its isolated
 * time. Layers are identical, so the factor holds for the whole iteration. Every rank of a TP group
 * runs the same pair of programs, so one GPU stands for the group.
 */
export interface CorunResult {
  /** Co-run time / isolated time of one prefill layer and one decode layer. */
  prefillSlowdown: number;
  decodeSlowdown: number;
  prefillLayerNs: number;
  decodeLayerNs: number;
  /**
   * Each stream's dynamic energy together over its kernels' energy alone (1 on a part without a
   * power model): below 1 where the cap's lower clock beside the other stream saves more than the
   * longer run costs (PowerGovernor.boardEnergyJ).
   */
  prefillEnergyFactor: number;
  decodeEnergyFactor: number;
}

/** Layers each stream completes under co-run before the measurement stops (layers are identical). */
const LAYERS = 1;

/** Nearest power of two (in log space): co-run slowdowns are smooth ratios, so coarse keys suffice. */
export function coarse(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.round(Math.log2(n));
}

interface LaneRun {
  name: string;
  steps: LaneStep[];
  /** The CU-masked stream the lane's kernels are issued on. */
  stream: Stream;
  next: number;
  layersDone: number;
  doneAtNs: number;
  /** Dynamic energy (nJ) of its finished kernels, together and as each would draw alone. */
  energyNj: number;
  aloneEnergyNj: number;
}

export function simulateCorun(hw: HardwareConfig, prefill: { steps: LaneStep[]; cus: CuSet }, decode: { steps: LaneStep[]; cus: CuSet }): CorunResult {
  const system = new System(hw, 1);
  const gpu = system.gpus[0]!;
  const ic = hw.interconnect;
  const links = makeResource('gpu0.links', ic.link_gbps * ic.links_per_gpu);
  const lanes: LaneRun[] = [
    { name: 'prefill', steps: prefill.steps, stream: new Stream(gpu, 'prefill', prefill.cus), next: 0, layersDone: 0, doneAtNs: -1, energyNj: 0, aloneEnergyNj: 0 },
    { name: 'decode', steps: decode.steps, stream: new Stream(gpu, 'decode', decode.cus), next: 0, layersDone: 0, doneAtNs: -1, energyNj: 0, aloneEnergyNj: 0 },
  ];
  const allDone = () => lanes.every((l) => l.layersDone >= LAYERS);
  const issue = (lane: LaneRun): void => {
    if (allDone() || lane.steps.length === 0) return;
    const step = lane.steps[lane.next]!;
    lane.next++;
    const onDone = () => {
      if (lane.next === lane.steps.length) {
        lane.next = 0;
        lane.layersDone++;
        if (lane.layersDone === LAYERS) lane.doneAtNs = system.sim.nowNs;
      }
      issue(lane);
    };
    runStep(system.sim, links, lane, step, onDone);
  };
  for (const l of lanes) issue(l);
  system.sim.run();
  const isoP = isolatedLayerNs(prefill.steps);
  const isoD = isolatedLayerNs(decode.steps);
  const pNs = lanes[0]!.doneAtNs / LAYERS;
  const dNs = lanes[1]!.doneAtNs / LAYERS;
  const prefillSlowdown = isoP > 0 ? Math.max(1, pNs / isoP) : 1;
  const decodeSlowdown = isoD > 0 ? Math.max(1, dNs / isoD) : 1;
  return { prefillSlowdown, decodeSlowdown, prefillLayerNs: pNs, decodeLayerNs: dNs, prefillEnergyFactor: energyFactor(lanes[0]!), decodeEnergyFactor: energyFactor(lanes[1]!) };
}

function energyFactor(lane: LaneRun): number {
  return lane.aloneEnergyNj > 0 ? lane.energyNj / lane.aloneEnergyNj : 1;
}

function runStep(sim: System['sim'], links: Resource, lane: LaneRun, step: LaneStep, onDone: () => void): void {
  if (step.kind === 'kernel') {
    lane.stream.enqueue(step.cost, {
      onComplete: (record) => {
        lane.energyNj += record.dynamicEnergyNj ?? 0;
        lane.aloneEnergyNj += step.dynamicEnergyNj;
        onDone();
      },
    });
    return;
  }
  if (step.linkBytes <= 0 || step.ns <= 0) {
    sim.after(step.ns, onDone);
    return;
  }
  const rate = step.linkBytes / step.ns;
  sim.startFlow({ name: `${lane.name}.collective`, amount: step.linkBytes, demands: [{ resource: links, perUnit: 1 }], maxRate: rate, weight: rate, onComplete: onDone });
}

export function isolatedLayerNs(steps: readonly LaneStep[]): number {
  let ns = 0;
  for (const s of steps) ns += s.kind === 'kernel' ? s.isolatedNs : s.ns;
  return ns;
}

/**
 * Memoised co-run slowdowns keyed by (prefill tokens, decode batch, decode context, prefill CU set,
 * decode CU set), the sizes rounded to the nearest power of two: the slowdown is a ratio of two
 * times that both grow with the shape, so it varies slowly (1.17 -> 1.30 from batch 64 to 128 at
 * 2K context on MI300X), while every new key costs a simulation of a few hundred kernels. The
 * isolated times the slowdowns multiply are costed at the fine buckets.
 */
export class CorunMemo {
  lookups = 0;
  hits = 0;
  /** By prefill CU set, then decode CU set, then the three coarse sizes as one number. */
  private memo = new CuSetMemo(() => new CuSetMemo(() => new Map<number, CorunResult>()));

  constructor(private readonly costs: IterationCostModel) {}

  get entries(): number {
    let n = 0;
    for (const byDecode of this.memo.values()) for (const m of byDecode.values()) n += m.size;
    return n;
  }

  factors(prefillTokens: number, decodeBatch: number, decodeContext: number, prefillCus: CuSet, decodeCus: CuSet): CorunResult {
    const p = coarse(prefillTokens);
    const b = coarse(decodeBatch);
    const c = coarse(decodeContext);
    // Powers of two: their exponents (each below 2^10) make one exact key.
    const key = (Math.log2(p) * 1024 + Math.log2(b)) * 1024 + Math.log2(c);
    this.lookups++;
    const memo = this.memo.get(prefillCus).get(decodeCus);
    let r = memo.get(key);
    if (r) this.hits++;
    else {
      r = simulateCorun(
        this.costs.hw,
        { steps: this.costs.layerProgram('prefill', p, 0, prefillCus), cus: prefillCus },
        { steps: this.costs.layerProgram('decode', b, c, decodeCus), cus: decodeCus },
      );
      memo.set(key, r);
    }
    return r;
  }
}

const memos = new WeakMap<IterationCostModel, CorunMemo>();

/** One co-run memo per cost model, shared by every run in the process (like the cost memo). */
export function corunMemoFor(costs: IterationCostModel): CorunMemo {
  let m = memos.get(costs);
  if (!m) {
    m = new CorunMemo(costs);
    memos.set(costs, m);
  }
  return m;
}
