import type { Dtype } from '../hw/config/schema.js';

/** Op categories used in every breakdown (the taxonomy of the BERT characterisation). */
export const OP_CATEGORIES = ['gemm', 'attention', 'softmax', 'layernorm', 'elementwise', 'optimizer', 'communication', 'memcpy'] as const;
export type OpCategory = (typeof OP_CATEGORIES)[number];

export const PASSES = ['fwd', 'bwd', 'opt'] as const;
export type Pass = (typeof PASSES)[number];

/**
 * A kernel as the hardware model sees it: a grid of identical workgroups plus the traffic the
 * whole grid causes past the caches. Cost models (gemm.ts, elementwise.ts, ...) produce these from
 * shapes; the executor turns them into time on a CU set and a share of HBM.
 */
export interface KernelCost {
  name: string;
  category: OpCategory;
  /** Number of workgroups in the grid. */
  workgroups: number;
  /** Work of one workgroup. */
  perWorkgroup: {
    /** Matrix-pipe FLOPs (MFMA / tensor cores), including padding of edge tiles. */
    matrixFlops: number;
    /** Vector-ALU FLOPs. */
    vectorFlops: number;
    /** Bytes the workgroup moves between its CU and the cache hierarchy (loads + stores). */
    cuBytes: number;
    /**
     * DRAM bytes of the fullest workgroup, where workgroups differ (a grid whose last workgroup
     * takes the remainder): the per-CU DRAM bound times that one, the critical path. Default: the
     * kernel's DRAM bytes over its workgroups.
     */
    dramBytes?: number;
    /**
     * Transcendental operations (exp, rsqrt, tanh...) on the special-function units, which run
     * at a small fraction of the FMA rate (16 per clock per SM/CU): why softmax-heavy attention
     * with small head dimensions falls well short of the matrix peak.
     */
    transcendentalOps?: number;
    /**
     * Latency a workgroup pays that no other work of the same CU hides: the software pipeline's
     * first operand loads and the epilogue's tile store, for kernels running one workgroup per CU.
     */
    exposedNs?: number;
  };
  /** Dtype that selects the matrix/vector rate. */
  dtype: Dtype;
  /** Useful FLOPs of the whole kernel (no padding): what FLOP conservation tests count. */
  flops: number;
  /** DRAM traffic of the whole kernel after cache reuse. */
  hbmReadBytes: number;
  hbmWriteBytes: number;
  /** Near-memory updates (atomic op-and-store in HBM), bytes updated. */
  nmcUpdateBytes?: number;
  /** Free-form shape description for reports (e.g. {m, n, k, batch}). */
  shape?: Record<string, number | string>;
  /** GEMM tile chosen, for reports. */
  tile?: [number, number];
}
