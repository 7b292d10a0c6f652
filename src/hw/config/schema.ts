import { z } from 'zod';
import { arbitrationPolicies } from '../memory/arbiter.js';
import '../memory/policies/index.js';

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

/**
 * FLOP per clock per CU, by dtype (an FMA counts 2). A dtype left out has no rate on that unit; see
 * matrix_flops_per_clock_per_cu and vector_flops_per_clock_per_cu for the fallbacks.
 */
const flopsPerClock = z
  .object({ fp32: z.number().nonnegative(), tf32: z.number().nonnegative(), fp16: z.number().nonnegative(), bf16: z.number().nonnegative(), fp8: z.number().nonnegative() })
  .partial()
  .strict();

/**
 * Board power under a cap, as the clock governor models it (src/hw/gpu/power.ts): static power plus
 * each running kernel's dynamic power, which scales as (clock / peak clock)^clock_exponent; the
 * clock is the highest that keeps the sum under `cap_w`. A kernel's dynamic power at the peak clock
 * is its tensor FLOP rate times `tensor_w_per_tflops` plus its DRAM traffic times
 * `dram_w_per_tbps`, at its isolated rates.
 */
export const powerSchema = z
  .object({
    /** Board power limit (W). */
    cap_w: positive,
    /** Power with the clocks up and nothing computing (W). */
    static_w: z.number().nonnegative(),
    /** Dynamic power per TFLOP/s of tensor (matrix-pipe) work at the peak clock (W). */
    tensor_w_per_tflops: z.number().nonnegative(),
    /** Dynamic power per TB/s of DRAM traffic, with the SM-side work of moving it, at the peak clock (W). */
    dram_w_per_tbps: z.number().nonnegative(),
    /** Dynamic power goes as clock^clock_exponent (3: P = C V^2 f, with V tracking f). */
    clock_exponent: positive.default(3),
    /**
     * The cap the preset's kernel times were calibrated under (W; unset: cap_w). A kernel runs at
     * (its clock under cap_w / its clock under this cap) of its calibrated pace, at most 1, so a
     * lower cap_w slows a kernel alone too; a higher one does not speed it past its calibration.
     */
    calibrated_cap_w: positive.optional(),
  })
  .strict();

export const computeSchema = z
  .object({
    /** Compute units (AMD CUs, NVIDIA SMs) usable by kernels. */
    cus: count,
    /** CU groups that dispatch is dealt over: XCDs on MI300X; 1 elsewhere (the NVIDIA presets do not model GPCs as groups). */
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
    /**
     * Peak (maximum boost) engine clock (MHz): the clock of kernels that leave the matrix pipes idle
     * unless clock_vector_mhz says otherwise, and the clock `power` scales from; clock_sustained_mhz
     * may not exceed it.
     */
    clock_peak_mhz: positive,
    /** Sustained engine clock under dense matrix load (power-limited): kernels on the matrix pipes. */
    clock_sustained_mhz: positive,
    /** Engine clock of kernels that leave the matrix pipes idle (default: the peak clock; at most it). */
    clock_vector_mhz: positive.optional(),
    /**
     * Matrix-pipe (MFMA / tensor core) FLOP per clock per CU, by dtype, at the sustained clock. A
     * dtype without a matrix rate runs on the vector ALUs; tf32 without one runs as fp32.
     */
    matrix_flops_per_clock_per_cu: flopsPerClock,
    /**
     * Vector-ALU FLOP per clock per CU, by dtype (elementwise and reduction work, and GEMMs in a
     * dtype without a matrix rate). Elementwise work in a dtype left out runs at the fp32 rate.
     */
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
    /**
     * Most waves (warps) resident on one CU. Read only by the T3 producer's latency model
     * (src/hw/t3/producer-gemm.ts), as a bound on resident workgroups.
     */
    max_waves_per_cu: count,
    /** Threads per wave (64 on CDNA, 32 warp lanes on NVIDIA); read where max_waves_per_cu is. */
    wave_size: count.default(64),
    /** LDS / shared memory per CU (bytes); read where max_waves_per_cu is, as the other residency bound. */
    lds_bytes_per_cu: count,
    /** Bytes per clock one CU can move to/from the memory hierarchy (L1/L2 request path). */
    l1_bytes_per_clock_per_cu: positive,
    /**
     * Most DRAM bandwidth one CU/SM draws on its own (GB/s), at the clock it was measured at: a rate
     * per CU clock, so where `power` lowers the clock it falls with it. It bounds kernels confined
     * to a few CUs (a CU-masked decode stream); a whole chip's CUs together outrun its HBM. Unset:
     * only l1_bytes_per_clock_per_cu.
     */
    dram_gbps_per_cu: positive.optional(),
    /** Host-side launch plus front-end dispatch latency per kernel. */
    kernel_launch_ns: z.number().nonnegative(),
    /** GEMM macro-tiles (M x N) the BLAS library chooses among. */
    gemm_tiles: z.array(z.tuple([count, count])).min(1),
    /** Hardware queues available for CU-masked streams. */
    hw_queues: count.default(24),
    /** The board power cap's effect on co-running kernels (src/hw/gpu/power.ts); unset: none. */
    power: powerSchema.optional(),
  })
  .strict();

export const hbmSchema = z
  .object({
    /** HBM capacity (bytes): what memory-footprint checks (serving KV cache, BERT, buffer sizes) compare against. */
    capacity_bytes: positive,
    /** HBM stacks. Descriptive: no model reads it (the HBM is one resource of peak_gbps x efficiency). */
    stacks: count,
    /** HBM channels (pseudo-channels as counted in the source). Descriptive, as `stacks`. */
    channels: count,
    /**
     * Peak DRAM bandwidth, GB/s (gigaBYTES per second, 1e9 B/s; both directions together): bus
     * width x data rate / 8. Times `efficiency`, the rate every kernel and transfer shares.
     */
    peak_gbps: positive,
    /** Achievable fraction of peak for streaming kernels (measured, see source comment). */
    efficiency: fraction,
    /** Idle load-to-use latency of a DRAM access. */
    latency_ns: z.number().nonnegative(),
    /**
     * How sharply the HBM saturates (src/hw/memory/hbm-knee.ts): the CUs' DRAM ports asking D
     * bytes/ns get (D^-p + C^-p)^(-1/p), C set so the whole chip streams at peak x efficiency.
     * Needs compute.dram_gbps_per_cu (the ports' rate); unset, or where the chip's ports cannot
     * outrun the HBM: a hard capacity, min(D, peak x efficiency).
     */
    knee_exponent: positive.optional(),
    /**
     * The CU count the whole-chip stream that sets C was measured on (default compute.cus): the
     * HBM's capacity C is the memory's, so a what-if with more or fewer CUs keeps it.
     */
    knee_calibrated_cus: z.number().int().positive().optional(),
  })
  .strict();

export const cacheSchema = z
  .object({
    /** Capacity (bytes), all slices together. GEMM operand reuse is bounded by llc.bytes, or l2.bytes without an llc. */
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
    /** Whether the HBM has near-memory compute: a near-memory update on a part without it is an error. */
    enabled: z.boolean().default(true),
  })
  .strict();

const NMC_DEFAULTS = { update_cost_factor: 2, enabled: true };

/**
 * DRAM request arbitration at each HBM's memory controller (src/hw/memory/arbitration.ts holds the
 * policies by name). `fair` is FR-FCFS-like: every requester queues together. `mca` is T3's
 * memory-controller arbitration: compute requests first, communication only while the queue
 * occupancy stays under a threshold derived from the producer's first-stage intensity, with a
 * starvation limit (mission.md §2). `mca-adaptive` is `mca` while the producer is the critical
 * side and `fair` while the communication is (src/hw/memory/policies/mca-adaptive.ts). The T3 study
 * runs `t3-mca` and `t3-mca-adaptive` under their own policies and every other configuration (`t3`
 * among them) under this one.
 */
export const arbitrationSchema = z
  .object({
    /**
     * Any registered policy (src/hw/memory/policies/index.ts lists them), looked up when a config is
     * read, so a policy registered after this module loaded (a user's, a test's) is accepted too.
     */
    policy: z
      .string()
      .refine((name) => arbitrationPolicies().includes(name), { error: () => `expected one of ${arbitrationPolicies().map((p) => `"${p}"`).join('|')}` })
      .default('fair'),
    /**
     * How often the controller samples queue occupancy (ns). ~1 µs is a few hundred DRAM bursts
     * per channel: long enough to average, short against a GEMM stage (tens of µs).
     */
    sample_ns: positive.default(1000),
    /** Settings of the `mca` policy (and of `mca-adaptive`, which runs it); other policies ignore them. */
    mca: z
      .object({
        /**
         * Queue occupancy (in units of the idle latency: q = L / L0 - 1, memory/latency.ts) up to
         * which communication may issue beside a producer with no DRAM traffic of its own. The
         * threshold used is this x (1 - u1), u1 the producer's DRAM utilisation in its first stage:
         * a memory-intensive producer keeps the queues for itself. 8 = communication may fill the
         * channel to ~89% beside a compute-bound GEMM, ~76% beside one that uses 60% alone.
         */
        occupancy_threshold: positive.default(8),
        /** Longest a communication request waits behind the threshold before it issues anyway (ns). */
        starvation_limit_ns: positive.default(5000),
      })
      .strict()
      .default({ occupancy_threshold: 8, starvation_limit_ns: 5000 }),
  })
  .strict();

const ARBITRATION_DEFAULTS = { policy: 'fair', sample_ns: 1000, mca: { occupancy_threshold: 8, starvation_limit_ns: 5000 } };

export const memorySchema = z
  .object({
    /** The DRAM: capacity, bandwidth, latency. */
    hbm: hbmSchema,
    /** The L2 cache. */
    l2: cacheSchema,
    /** A memory-side cache beyond the L2 (MI300X Infinity Cache); unset: none. */
    llc: cacheSchema.optional(),
    /** Near-memory compute in the HBM (T3's reduction). */
    nmc: nmcSchema.default(NMC_DEFAULTS),
    /** DRAM request arbitration at the memory controller. */
    arbitration: arbitrationSchema.default(ARBITRATION_DEFAULTS),
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
    /**
     * Smallest chunk a tree all-reduce cuts its share into to deepen its pipeline: NCCL halves a
     * tree's chunk while a channel has too few of them for the tree's depth, in steps down to
     * 32 KiB (src/enqueue.cc, the last bound of both its Simple and LL128 loops).
     */
    tree_min_chunk_bytes: positive.default(32768),
  })
  .strict();

const COLLECTIVE_DEFAULTS = { cus: 32, protocol_efficiency: 0.9375, bytes_in_flight_per_cu: 32768, chunk_bytes: 4194304, max_chunks: 8, tree_min_chunk_bytes: 32768 };

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
    /** Latency of one hop (a link, or one pass through the switch), paid per hop a transfer crosses (ns). */
    link_latency_ns: z.number().nonnegative(),
    /** In-switch reduction (NVLS) for `switch` topologies. */
    switch_reduction: z.boolean().default(false),
    /** Fraction of port bandwidth an in-switch reduction sustains (NVLS), measured. */
    switch_reduction_efficiency: fraction.optional(),
    /** Node-to-node network, per GPU, GB/s per direction. */
    nic_gbps: positive.default(50),
    /** Latency of a transfer between GPUs on different nodes (ns). */
    nic_latency_ns: z.number().nonnegative().default(5000),
    /** How collectives run on this part (NCCL/RCCL-like settings). */
    collective: collectiveSchema.default(COLLECTIVE_DEFAULTS),
  })
  .strict();

export const dmaSchema = z
  .object({
    /** DMA (SDMA / copy) engines per GPU: transfers and T3's forwards are dealt over them round-robin, a DMA-engine collective's steps to the least loaded. */
    engines: count,
    /** Peak bandwidth of one DMA engine, GB/s. */
    engine_gbps: positive,
    /** Setup latency per transfer. */
    setup_ns: z.number().nonnegative(),
  })
  .strict();

/** T3 track-and-trigger unit and the fused GEMM + reduce-scatter (src/hw/t3, mission.md §2). */
export const t3Schema = z
  .object({
    /** Tracker table entries, one per output tile in flight (T3: 256 entries, ~19 KB). */
    tracker_entries: count.default(256),
    /**
     * When the table is full: `stall` the producer's workgroups until an entry frees, or `fallback`:
     * the chunk loses its trigger and is forwarded by software after the producer kernel ends.
     */
    overflow: z.enum(['stall', 'fallback']).default('stall'),
    /**
     * Mapping of the first ring step's chunk: `remote` (the GEMM stores straight into the next GPU,
     * as published T3 does) or `dma` (written locally, then a triggered DMA forwards it). Remote
     * stores land a whole stage before the peer's own stores complete the tiles, so they need a
     * table entry per tile of a step's chunk(s); with 256 entries that overflows for most T3 study
     * shapes (docs/t3.md), hence `dma` by default.
     */
    first_chunk: z.enum(['remote', 'dma']).default('dma'),
    /**
     * The producer GEMM's main loop as the latency model sees it: K elements per iteration and
     * iterations prefetched ahead (LDS double buffering, Tensile DepthU 32 / PrefetchGlobalRead).
     * Loaded DRAM latency beyond (resident workgroups x stages x iteration time) stalls the GEMM.
     */
    gemm_k_step: count.default(32),
    /** Main-loop iterations the producer GEMM prefetches ahead (see gemm_k_step). */
    gemm_prefetch_stages: count.default(2),
    /** Tracker events per chunk and side (tiles are counted in this many batches: the event cost). */
    events_per_chunk: count.default(16),
    /**
     * What a triggered DMA command forwards, and when: `tiles` (one command per sub-chunk, fired by
     * its first event batch of complete tiles, which moves each batch once the tracker has seen it
     * complete: the tracker counts per tile, so the engine need not wait for the chunk's last
     * tile) or `chunk` (fired once every tile of the sub-chunk is complete; until session 39).
     * Whole-chunk forwards let the rings drift out of step (docs/t3.md), hence `tiles`.
     */
    forward: z.enum(['tiles', 'chunk']).default('tiles'),
  })
  .strict();

const T3_DEFAULTS = { tracker_entries: 256, overflow: 'stall' as const, first_chunk: 'dma' as const, gemm_k_step: 32, gemm_prefetch_stages: 2, events_per_chunk: 16, forward: 'tiles' as const };

export const hardwareSchema = z
  .object({
    /** The part's name in reports and messages (a file with `base:` and no name is named after itself). */
    name: z.string().min(1),
    /** Vendor family. Descriptive: no model reads it (behaviour comes from the fields, e.g. compute.dispatch). */
    vendor: z.enum(['amd', 'nvidia', 'generic']),
    /** One line for `silica hw list` and reports. */
    description: z.string().default(''),
    /** CUs/SMs, clocks, FLOP rates, dispatch and the power cap. */
    compute: computeSchema,
    /** HBM, caches, near-memory compute and DRAM arbitration. */
    memory: memorySchema,
    /** GPU-to-GPU links, NICs and collective settings. */
    interconnect: interconnectSchema,
    /** DMA (copy) engines. */
    dma: dmaSchema,
    /** The T3 track-and-trigger unit (the `silica t3` study). */
    t3: t3Schema.default(T3_DEFAULTS),
  })
  .strict();

export type HardwareConfig = z.infer<typeof hardwareSchema>;
export type ComputeConfig = z.infer<typeof computeSchema>;
export type MemoryConfig = z.infer<typeof memorySchema>;
export type InterconnectConfig = z.infer<typeof interconnectSchema>;
export type CollectiveConfig = z.infer<typeof collectiveSchema>;
export type DmaConfig = z.infer<typeof dmaSchema>;
export type ArbitrationConfig = z.infer<typeof arbitrationSchema>;
export type T3Config = z.infer<typeof t3Schema>;
