import { z } from 'zod';

/**
 * One schema per hardware section (gem5-style: each parameter declared once with its type,
 * default and meaning). The TypeScript types, the validation and the error messages all come
 * from these definitions. Sizes are bytes, bandwidths GB/s (1e9 B/s), times ns, clocks MHz.
 */

const positive = z.number().positive();
const fraction = z.number().gt(0).lte(1);
const count = z.number().int().positive();

export const DTYPES = ['fp32', 'tf32', 'fp16', 'bf16', 'fp8'] as const;
export type Dtype = (typeof DTYPES)[number];
export const dtypeSchema = z.enum(DTYPES);

export const DTYPE_BYTES: Record<Dtype, number> = { fp32: 4, tf32: 4, fp16: 2, bf16: 2, fp8: 1 };

const flopsPerClock = z
  .object({ fp32: z.number().nonnegative(), tf32: z.number().nonnegative(), fp16: z.number().nonnegative(), bf16: z.number().nonnegative(), fp8: z.number().nonnegative() })
  .partial()
  .strict();

export const computeSchema = z
  .object({
    /** Compute units (AMD CUs, NVIDIA SMs) usable by kernels. */
    cus: count,
    /** CU groups that dispatch is dealt over: XCDs on MI300X, GPCs on NVIDIA, 1 otherwise. */
    cu_groups: count.default(1),
    /** Shader engines (AMD) per group; CU-mask bits fill them round-robin. */
    shader_engines_per_group: count.default(1),
    /**
     * How workgroups are dealt: `round-robin-groups` (MI300X SPX: WG i goes to XCD i mod groups,
     * then to the least-loaded CU of that XCD) or `least-loaded` (any free CU).
     */
    dispatch: z.enum(['round-robin-groups', 'least-loaded']).default('least-loaded'),
    /** CU-mask semantics: `interleaved-groups` (MI300X: bit i -> XCD i mod groups) or `linear`. */
    mask_layout: z.enum(['interleaved-groups', 'linear']).default('linear'),
    clock_peak_mhz: positive,
    /** Sustained engine clock under dense matrix load (power-limited); used for all kernels. */
    clock_sustained_mhz: positive,
    matrix_flops_per_clock_per_cu: flopsPerClock,
    vector_flops_per_clock_per_cu: flopsPerClock,
    /** Fraction of cycles the matrix pipes are busy in a well-tuned GEMM main loop. */
    matrix_pipe_utilization: fraction,
    /**
     * Special-function (transcendental) results per clock per CU/SM: 16 on NVIDIA sm_80/sm_90
     * (CUDA C Programming Guide, arithmetic instruction throughput table) and on CDNA (quarter-rate
     * transcendentals on 64 FP32 lanes).
     */
    transcendental_ops_per_clock_per_cu: z.number().positive().default(16),
    /** Fraction of vector peak reached by elementwise/reduction arithmetic. */
    vector_pipe_utilization: fraction.default(0.7),
    max_waves_per_cu: count,
    wave_size: count.default(64),
    lds_bytes_per_cu: count,
    /** Bytes per clock one CU can move to/from the memory hierarchy (L1/L2 request path). */
    l1_bytes_per_clock_per_cu: positive,
    /** Host-side launch plus front-end dispatch latency per kernel. */
    kernel_launch_ns: z.number().nonnegative(),
    /** GEMM macro-tiles (M x N) the BLAS library chooses among. */
    gemm_tiles: z.array(z.tuple([count, count])).min(1),
    /** Hardware queues available for CU-masked streams. */
    hw_queues: count.default(24),
  })
  .strict();

export const hbmSchema = z
  .object({
    capacity_bytes: positive,
    stacks: count,
    channels: count,
    peak_gbps: positive,
    /** Achievable fraction of peak for streaming kernels (measured, see source comment). */
    efficiency: fraction,
    /** Idle load-to-use latency of a DRAM access. */
    latency_ns: z.number().nonnegative(),
  })
  .strict();

export const cacheSchema = z
  .object({
    bytes: positive,
    /** Whether this cache is shared by all CU groups (true) or private per group (false). */
    shared: z.boolean().default(true),
  })
  .strict();

export const nmcSchema = z
  .object({
    /**
     * Near-memory compute: an update (atomic op-and-store) costs a read and a write of the row
     * inside the bank, i.e. `update_cost_factor` bytes of channel time per byte updated.
     */
    update_cost_factor: positive.default(2),
    enabled: z.boolean().default(true),
  })
  .strict();

export const memorySchema = z
  .object({
    hbm: hbmSchema,
    l2: cacheSchema,
    llc: cacheSchema.optional(),
    nmc: nmcSchema.default({ update_cost_factor: 2, enabled: true }),
  })
  .strict();

/**
 * How CU-engine and DMA-engine collectives run (NCCL/RCCL-like); owned by src/hw/collectives.
 */
export const collectiveSchema = z
  .object({
    /** CUs (channels, one workgroup each) a CU-engine collective holds when --cus is not given. */
    cus: count.default(32),
    /**
     * Payload fraction of link bytes for CU-engine data movement. NCCL/RCCL's LL128 protocol
     * stores 120 data bytes per 128-byte line (8-byte flag), so 120/128 = 0.9375.
     */
    protocol_efficiency: fraction.default(0.9375),
    /**
     * Bytes one collective workgroup keeps in flight (memory-level parallelism); by Little's law
     * a CU then moves bytes_in_flight / hbm.latency_ns bytes per ns, capped by its L1 path.
     */
    bytes_in_flight_per_cu: positive.default(32768),
    /** Pipelining granularity: a ring's block is cut into chunks of about this size (NCCL chunk). */
    chunk_bytes: positive.default(4194304),
    /** Most chunks per block (bounds the event count of huge messages; pipelining is then ample). */
    max_chunks: count.default(8),
  })
  .strict();

const COLLECTIVE_DEFAULTS = { cus: 32, protocol_efficiency: 0.9375, bytes_in_flight_per_cu: 32768, chunk_bytes: 4194304, max_chunks: 8 };

export const interconnectSchema = z
  .object({
    /** `fully-connected` (one link per pair), `ring`, `switch` (NVSwitch-like), or `none`. */
    topology: z.enum(['fully-connected', 'ring', 'switch', 'none']),
    /** GPUs in one node. */
    gpus_per_node: count,
    /** Nodes joined by NICs; a System may hold up to gpus_per_node x nodes GPUs. */
    nodes: count.default(1),
    /** Effective bandwidth of one link in one direction, GB/s. */
    link_gbps: positive,
    /** Links per GPU (for `switch`: ports into the switch). */
    links_per_gpu: count,
    link_latency_ns: z.number().nonnegative(),
    /** In-switch reduction (NVLS) for `switch` topologies. */
    switch_reduction: z.boolean().default(false),
    /** Fraction of port bandwidth an in-switch reduction sustains (NVLS), measured. */
    switch_reduction_efficiency: fraction.optional(),
    /** Node-to-node network, per GPU, GB/s per direction. */
    nic_gbps: positive.default(50),
    nic_latency_ns: z.number().nonnegative().default(5000),
    collective: collectiveSchema.default(COLLECTIVE_DEFAULTS),
  })
  .strict();

export const dmaSchema = z
  .object({
    engines: count,
    /** Peak bandwidth of one DMA engine, GB/s. */
    engine_gbps: positive,
    /** Setup latency per transfer. */
    setup_ns: z.number().nonnegative(),
  })
  .strict();

export const t3Schema = z
  .object({
    tracker_entries: count.default(256),
    /** What happens when the tracker table is full: stall the producer or fall back to memory. */
    overflow: z.enum(['stall', 'fallback']).default('stall'),
  })
  .strict();

export const hardwareSchema = z
  .object({
    name: z.string().min(1),
    vendor: z.enum(['amd', 'nvidia', 'generic']),
    description: z.string().default(''),
    compute: computeSchema,
    memory: memorySchema,
    interconnect: interconnectSchema,
    dma: dmaSchema,
    t3: t3Schema.default({ tracker_entries: 256, overflow: 'stall' }),
  })
  .strict();

export type HardwareConfig = z.infer<typeof hardwareSchema>;
export type ComputeConfig = z.infer<typeof computeSchema>;
export type MemoryConfig = z.infer<typeof memorySchema>;
export type InterconnectConfig = z.infer<typeof interconnectSchema>;
export type CollectiveConfig = z.infer<typeof collectiveSchema>;
export type DmaConfig = z.infer<typeof dmaSchema>;
