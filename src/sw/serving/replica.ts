import { SilicaError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import { DTYPE_BYTES, type Dtype, type HardwareConfig } from '../../hw/config/schema.js';
import { modelWidths, parameterCount, type ModelSpec } from '../models/index.js';
import { KvBlockManager } from './kv-cache.js';
import type { Req } from './request-state.js';

/**
 * A replica: one copy of the model on a tensor-parallel group of GPUs, with its paged KV cache and
 * its queues. Policies decide what it runs; the replica keeps the bookkeeping they share.
 */
export interface ReplicaMemory {
  weightsBytesPerGpu: number;
  /** KV-cache bytes one token takes on each GPU of the group (K and V, every layer). */
  kvBytesPerTokenPerGpu: number;
  /** Activations and runtime workspace kept free for the largest batch. */
  reserveBytesPerGpu: number;
  kvBlocks: number;
  blockTokens: number;
}

export interface MemoryOptions {
  tp: number;
  dtype: Dtype;
  kvDtype: Dtype;
  blockTokens: number;
  /** Fraction of HBM the server may use (vLLM's gpu_memory_utilization, default 0.9). */
  gpuMemoryUtilization: number;
  /** Most tokens one iteration processes (sizes the activation reserve). */
  maxBatchTokens: number;
}

/** Runtime workspace per GPU besides activations (allocator slack, communication buffers) [U]. */
const RUNTIME_RESERVE_BYTES = 2 * 1024 ** 3;

/**
 * Sizes the KV cache from HBM capacity, as vLLM does at start-up: usable memory minus the weight
 * shard minus the peak activations of the largest batch, cut into blocks of `blockTokens` tokens.
 * KV heads are split over the TP group; when the group is wider than the KV heads, each GPU keeps
 * one (replicated) head.
 */
export function sizeReplica(hw: HardwareConfig, model: ModelSpec, o: MemoryOptions): ReplicaMemory {
  const bytes = DTYPE_BYTES[o.dtype];
  const weightsBytesPerGpu = (parameterCount(model) * bytes) / o.tp;
  const kvHeadsPerGpu = Math.max(1, Math.ceil(model.kvHeads / o.tp));
  const kvBytesPerTokenPerGpu = 2 * model.layers * kvHeadsPerGpu * model.headDim * DTYPE_BYTES[o.kvDtype];
  const { qWidth, ffnInWidth } = modelWidths(model);
  // Live activations at the widest point of a layer (residual, normed input, QKV, FFN input) and the logits.
  const routed = model.experts ? (model.expertsPerToken ?? 1) : 1;
  const widest = 2 * model.hidden + (qWidth * 3) / o.tp + (ffnInWidth * routed) / o.tp + model.vocab / o.tp;
  const reserveBytesPerGpu = o.maxBatchTokens * widest * bytes + RUNTIME_RESERVE_BYTES;
  const usable = hw.memory.hbm.capacity_bytes * o.gpuMemoryUtilization - weightsBytesPerGpu - reserveBytesPerGpu;
  const kvBlocks = Math.floor(usable / (o.blockTokens * kvBytesPerTokenPerGpu));
  if (kvBlocks < 1) {
    throw new SilicaError(
      `--tp ${o.tp}: ${model.name} in ${o.dtype} needs ${formatBytes(weightsBytesPerGpu)} of weights per GPU plus ${formatBytes(reserveBytesPerGpu)} of activations, more than ${o.gpuMemoryUtilization} x ${formatBytes(hw.memory.hbm.capacity_bytes)} of ${hw.name} HBM; use a wider TP group or fp8`,
    );
  }
  return { weightsBytesPerGpu, kvBytesPerTokenPerGpu, reserveBytesPerGpu, kvBlocks, blockTokens: o.blockTokens };
}

/** A FIFO that also takes preempted requests back at its head. */
export class Deque<T> {
  private items: T[] = [];
  private head = 0;
  private front: T[] = [];

  get length(): number {
    return this.items.length - this.head + this.front.length;
  }

  push(x: T): void {
    this.items.push(x);
  }

  pushFront(x: T): void {
    this.front.push(x);
  }

  peek(): T | undefined {
    return this.front.length ? this.front[this.front.length - 1] : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.front.length) return this.front.pop();
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.front.length - 1; i >= 0; i--) yield this.front[i]!;
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}

export class Replica {
  readonly kv: KvBlockManager;
  /** Admitted to nothing yet (or preempted for recompute): FCFS. */
  readonly waiting = new Deque<Req>();
  /** Admitted, KV blocks held, prefill in progress (chunked or waiting for the prefill stream). */
  readonly prefilling: Req[] = [];
  /** In the decode phase. */
  readonly decoding: Req[] = [];
  /** Preempted by swapping their KV to host memory. */
  readonly swapped: Req[] = [];
  preemptRecompute = 0;
  preemptSwap = 0;
  swapBytes = 0;
  iterations = 0;
  /** Time iterations' GPU work waited for the engine's host (host-overhead.ts), summed. */
  hostWaitNs = 0;
  /** Work done on each GPU of the group (summed over iterations): busy CU-ns and DRAM bytes. */
  cuNs = 0;
  hbmBytes = 0;
  /**
   * Energy each GPU of the group drew over static power (nJ), where the part models its power:
   * its kernels' energy as alone, less what a lower clock beside a co-running lane saves (lane.ts).
   */
  dynamicEnergyNj = 0;

  constructor(
    readonly id: number,
    /** GPU indices of the TP group. */
    readonly gpus: number[],
    readonly memory: ReplicaMemory,
  ) {
    this.kv = new KvBlockManager(memory.kvBlocks, memory.blockTokens);
  }

  /** Whether a request could ever fit this replica's KV cache; the reason when not. */
  cannotFit(req: Req): string | undefined {
    const need = this.kv.blocksFor(req.peakKvTokens);
    if (need > this.kv.totalBlocks) {
      return `needs ${need} KV blocks (${req.peakKvTokens} tokens) but replica ${this.id} has ${this.kv.totalBlocks}`;
    }
    return undefined;
  }

  get load(): number {
    return this.waiting.length + this.prefilling.length + this.decoding.length + this.swapped.length;
  }

  get idle(): boolean {
    return this.load === 0;
  }
}
