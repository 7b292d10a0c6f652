import { makeResource, type Resource } from '../../core/flow-network.js';
import { SilicaError } from '../../core/errors.js';
import type { InterconnectConfig } from '../config/schema.js';
import type { System } from '../system.js';

/**
 * The links of a node (or of several nodes joined by NICs) as shared resources, one per direction.
 *
 * Topologies (from `hw.interconnect`):
 * - `fully-connected` (MI300X xGMI): one link per ordered pair; a pair shares exactly one link, so a
 *   point-to-point copy is capped at one link while a collective can spread over all of them [A3].
 * - `ring`: each GPU links to its two neighbours (links_per_gpu / 2 links each); a transfer takes
 *   the shorter way round and occupies every link it crosses.
 * - `switch` (NVSwitch): a non-blocking crossbar; each GPU has an egress and an ingress port of
 *   links_per_gpu x link_gbps, so any peer gets the GPU's full bandwidth [A3].
 * - `none`: no GPU-to-GPU links inside a node.
 * GPU g lives on node floor(g / gpus_per_node); GPUs on different nodes talk through their NICs
 * (a per-GPU egress and ingress of nic_gbps), GPU-direct, with nic_latency_ns.
 *
 * Flows demand these resources like HBM, so concurrent transfers share link bandwidth by the same
 * weighted max-min rule. Each link also counts the payload sent into it and received out of it.
 */
export type LinkKind = 'link' | 'switch-out' | 'switch-in' | 'nic-out' | 'nic-in';

export interface Link {
  readonly resource: Resource;
  /** GPU at the sending end (for switch-in / nic-in ports: the GPU the port delivers to). */
  readonly from: number;
  /** GPU at the receiving end (for switch-out / nic-out ports: the GPU the port belongs to). */
  readonly to: number;
  readonly kind: LinkKind;
  /** Payload bytes that entered the link (counted when a transfer over it completes at the sender). */
  sentBytes: number;
  /** Payload bytes that left the link at the receiver (counted on arrival, after the latency). */
  receivedBytes: number;
}

/** Kinds whose bytes are counted once per physical hop (the sending side). */
const SENDING_KINDS: ReadonlySet<LinkKind> = new Set(['link', 'switch-out', 'nic-out']);

export class Interconnect {
  readonly config: InterconnectConfig;
  readonly gpuCount: number;
  private readonly links: Link[] = [];
  private readonly pairLinks = new Map<number, Link>();
  private readonly switchOut: Link[] = [];
  private readonly switchIn: Link[] = [];
  private readonly nicOut: Link[] = [];
  private readonly nicIn: Link[] = [];
  private readonly hopCache = new Map<number, Link[]>();
  private readonly latencyCache = new Map<number, number>();

  constructor(system: System) {
    this.config = system.hw.interconnect;
    this.gpuCount = system.gpus.length;
    const ic = this.config;
    const capacityGpus = ic.gpus_per_node * ic.nodes;
    if (this.gpuCount > capacityGpus) {
      throw new SilicaError(
        `--gpus: ${system.hw.name} has ${ic.gpus_per_node} GPUs per node x ${ic.nodes} node(s) = ${capacityGpus}, got ${this.gpuCount} (set interconnect.nodes for a multi-node system)`,
      );
    }
    for (let node = 0; node * ic.gpus_per_node < this.gpuCount; node++) this.buildNode(system, node);
    if (this.nodeOf(this.gpuCount - 1) > 0) {
      for (let g = 0; g < this.gpuCount; g++) {
        this.nicOut.push(this.add(system, `gpu${g}.nic.out`, g, g, 'nic-out', ic.nic_gbps));
        this.nicIn.push(this.add(system, `gpu${g}.nic.in`, g, g, 'nic-in', ic.nic_gbps));
      }
    }
  }

  nodeOf(gpu: number): number {
    return Math.floor(gpu / this.config.gpus_per_node);
  }

  /** GPUs of one node present in this system, ascending. */
  nodeGpus(node: number): number[] {
    const first = node * this.config.gpus_per_node;
    const last = Math.min(this.gpuCount, first + this.config.gpus_per_node);
    return Array.from({ length: Math.max(0, last - first) }, (_, i) => first + i);
  }

  /** The links a transfer from src to dst crosses, in order (empty when src === dst). */
  hops(src: number, dst: number): Link[] {
    this.checkGpu(src);
    this.checkGpu(dst);
    const key = src * this.gpuCount + dst;
    let hops = this.hopCache.get(key);
    if (!hops) {
      hops = this.route(src, dst);
      this.hopCache.set(key, hops);
    }
    return hops;
  }

  path(src: number, dst: number): Resource[] {
    return this.hops(src, dst).map((l) => l.resource);
  }

  /** The slowest hop's capacity from src to dst (GB/s = bytes/ns): the most a transfer there can take. */
  pathCapacity(src: number, dst: number): number {
    return Math.min(...this.hops(src, dst).map((l) => l.resource.capacity));
  }

  linkResources(): Resource[] {
    return this.links.map((l) => l.resource);
  }

  allLinks(): readonly Link[] {
    return this.links;
  }

  /** Time from the last byte leaving src to it being visible at dst. */
  latencyNs(src: number, dst: number): number {
    if (src === dst) return 0;
    if (this.nodeOf(src) !== this.nodeOf(dst)) return this.config.nic_latency_ns;
    // Counted once per pair: a collective asks for every step's, 10^5 of them at 64 GPUs.
    const key = src * this.gpuCount + dst;
    let ns = this.latencyCache.get(key);
    if (ns === undefined) {
      ns = this.hops(src, dst).filter((l) => l.kind === 'link' || l.kind === 'switch-out').length * this.config.link_latency_ns;
      this.latencyCache.set(key, ns);
    }
    return ns;
  }

  /** Payload bytes put on the fabric, each physical hop counted once. */
  linkBytes(): number {
    let total = 0;
    for (const l of this.links) if (SENDING_KINDS.has(l.kind)) total += l.sentBytes;
    return total;
  }

  /** Throws a one-line error unless every member of the group can reach every other. */
  checkConnected(ranks: readonly number[]): void {
    for (const a of ranks) for (const b of ranks) if (a !== b) this.hops(a, b);
  }

  /** Records payload entering the links of a transfer (call when the sender has pushed it all). */
  recordSent(hops: readonly Link[], bytes: number): void {
    for (const l of hops) l.sentBytes += bytes;
  }

  recordReceived(hops: readonly Link[], bytes: number): void {
    for (const l of hops) l.receivedBytes += bytes;
  }

  switchPorts(gpu: number): { out: Link; in: Link } {
    const out = this.switchOut[gpu];
    const inPort = this.switchIn[gpu];
    if (!out || !inPort) throw new SilicaError(`interconnect: GPU ${gpu} has no switch ports (topology ${this.config.topology})`);
    return { out, in: inPort };
  }

  private buildNode(system: System, node: number): void {
    const ic = this.config;
    const gpus = this.nodeGpus(node);
    if (gpus.length < 2) return;
    if (ic.topology === 'fully-connected') {
      // Links per pair: a node of n GPUs with links_per_gpu >= n - 1 gives each pair its share.
      const perPair = Math.max(1, Math.floor(ic.links_per_gpu / Math.max(1, ic.gpus_per_node - 1)));
      for (const a of gpus) for (const b of gpus) if (a !== b) this.pairLinks.set(a * this.gpuCount + b, this.add(system, `link${a}->${b}`, a, b, 'link', perPair * ic.link_gbps));
    } else if (ic.topology === 'ring') {
      const n = gpus.length;
      // Two neighbours share the GPU's links; a 2-GPU ring joins one pair with all of them.
      const perNeighbour = n === 2 ? ic.links_per_gpu : Math.max(1, Math.floor(ic.links_per_gpu / 2));
      for (let i = 0; i < n; i++) {
        for (const j of n === 2 ? [(i + 1) % n] : [(i + 1) % n, (i + n - 1) % n]) {
          const a = gpus[i]!;
          const b = gpus[j]!;
          this.pairLinks.set(a * this.gpuCount + b, this.add(system, `link${a}->${b}`, a, b, 'link', perNeighbour * ic.link_gbps));
        }
      }
    } else if (ic.topology === 'switch') {
      for (const g of gpus) {
        this.switchOut[g] = this.add(system, `gpu${g}.switch.out`, g, g, 'switch-out', ic.links_per_gpu * ic.link_gbps);
        this.switchIn[g] = this.add(system, `gpu${g}.switch.in`, g, g, 'switch-in', ic.links_per_gpu * ic.link_gbps);
      }
    }
  }

  private add(system: System, name: string, from: number, to: number, kind: LinkKind, gbps: number): Link {
    const resource = makeResource(name, gbps);
    const link: Link = { resource, from, to, kind, sentBytes: 0, receivedBytes: 0 };
    this.links.push(link);
    return link;
  }

  private route(src: number, dst: number): Link[] {
    if (src === dst) return [];
    if (this.nodeOf(src) !== this.nodeOf(dst)) return [this.nicOut[src]!, this.nicIn[dst]!];
    const ic = this.config;
    if (ic.topology === 'switch') return [this.switchOut[src]!, this.switchIn[dst]!];
    if (ic.topology === 'fully-connected') return [this.pairLinks.get(src * this.gpuCount + dst)!];
    if (ic.topology === 'ring') {
      const gpus = this.nodeGpus(this.nodeOf(src));
      const n = gpus.length;
      const i = gpus.indexOf(src);
      const j = gpus.indexOf(dst);
      const forward = (j - i + n) % n;
      const step = forward <= n - forward ? 1 : n - 1; // shorter way round; ties go forward
      const hops: Link[] = [];
      for (let at = i; at !== j; at = (at + step) % n) {
        hops.push(this.pairLinks.get(gpus[at]! * this.gpuCount + gpus[(at + step) % n]!)!);
      }
      return hops;
    }
    throw new SilicaError(
      `interconnect.topology: "none" does not connect GPU ${src} to GPU ${dst} on node ${this.nodeOf(src)} (expected fully-connected, ring or switch for a multi-GPU group)`,
    );
  }

  private checkGpu(g: number): void {
    if (!Number.isInteger(g) || g < 0 || g >= this.gpuCount) {
      throw new SilicaError(`GPU ${g}: expected an index from 0 to ${this.gpuCount - 1}`);
    }
  }
}

const cache = new WeakMap<System, Interconnect>();

/** The System's interconnect, built on first use and cached (its resources join the System's simulator). */
export function interconnectOf(system: System): Interconnect {
  let ic = cache.get(system);
  if (!ic) {
    ic = new Interconnect(system);
    cache.set(system, ic);
  }
  return ic;
}
