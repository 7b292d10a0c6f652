import type { Interconnect, Link } from '../link/topology.js';
import type { Plan } from './plan.js';
import { chunkSizes, type Chunking } from './ring.js';

/**
 * All-reduce with in-switch reduction (NVLS, NVSwitch 3 "multimem"): GPU g owns 1/n of the buffer.
 * For each chunk of its share it issues a multimem load-reduce, for which the switch reads the
 * chunk from every GPU (each GPU's egress port and DRAM give c bytes), adds them and returns c
 * (g's ingress), then a multimem store: g sends c once (egress) and the switch multicasts it to
 * every GPU (each ingress and DRAM take c). Per GPU and direction that is S (n+1)/n bytes for a
 * buffer of S, against 2 S (n-1)/n for a ring, which is why NVLS bus bandwidth exceeds the port
 * rate [B3]. The switch's reduction throughput is the port rate times
 * `interconnect.switch_reduction_efficiency` (a measured figure, see the preset); the protocol is
 * NCCL's Simple (no LL128 flags).
 */
export function planNvls(plan: Plan, ic: Interconnect, ranks: readonly number[], bytes: number, chunking: Chunking): void {
  const n = ranks.length;
  const share = bytes / n;
  const sizes = chunkSizes(share, chunking);
  const efficiency = ic.config.switch_reduction_efficiency ?? 1;
  const latencyNs = 2 * ic.config.link_latency_ns; // load-reduce round trip, then the store
  for (const g of ranks) {
    const channel = plan.newChannel();
    const ports: Link[] = [];
    for (const h of ranks) ports.push(ic.switchPorts(h).out, ic.switchPorts(h).in);
    ports.push(ic.switchPorts(g).in, ic.switchPorts(g).out);
    const hbm = ranks.map((h) => ({ gpu: h, perUnit: 2 }));
    for (const c of sizes) {
      plan.add({
        gpu: g,
        channel,
        from: g,
        to: g,
        bytes: c,
        // Through g's SMs: the reduced chunk comes in (load) and goes out (store).
        cost: { srcRead: 1, srcWrite: 0, dstWrite: 1, dstUpdate: 0 },
        custom: { ports, hbm, latencyNs, linkPerUnit: 1 / efficiency },
      });
    }
  }
}
