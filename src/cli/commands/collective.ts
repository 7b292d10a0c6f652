import type { Argv, CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { formatBytes, parseBytes, parsePositiveInt } from '../../core/units.js';
import { DTYPE_BYTES, DTYPES, type Dtype, type HardwareConfig } from '../../hw/config/schema.js';
import { checkDtypeRate } from '../../hw/gpu/kernel-timing.js';
import { checkSimulatedGpus } from '../../hw/system.js';
import { COLLECTIVE_ALGOS, COLLECTIVE_KINDS, simulateCollective, type CollectiveAlgo, type CollectiveKind, type CollectiveSpec } from '../../hw/collectives/index.js';
import { PUBLISHED_CU_OVERLAP, runCuOverlap } from '../../hw/collectives/cu-overlap.js';
import { hardwareFrom, numberFlag, printJson, printTable, withHwOptions, type HwArgs } from '../common.js';

/**
 * `silica collective <kind>`: one collective on an n-GPU node, nccl-tests style (bytes = per-GPU
 * buffer, bus bandwidth as nccl-tests defines it), a size sweep, or `cu-overlap`, the T3
 * motivation experiment (all-reduce on a few CUs co-running with its producer GEMM).
 */
interface CollectiveArgs extends HwArgs {
  kind: string;
  gpus?: string;
  bytes?: string;
  algo?: CollectiveAlgo;
  engine?: 'cu' | 'dma';
  cus?: string;
  dtype: string;
  sweep?: string;
  src?: string;
  dst?: string;
  m?: string;
  n?: string;
  k?: string;
  chunks?: string;
  overlapCus?: string;
}

const KINDS = [...COLLECTIVE_KINDS, 'cu-overlap'] as const;
type Kind = (typeof KINDS)[number];

/**
 * Flags only some kinds read, and those kinds. The flags have no yargs defaults (their defaults
 * are applied where they are read), so a flag the chosen kind would ignore (`--src` on an
 * all-reduce, `--chunks` on a collective) is known to have been typed, and is refused.
 */
const FLAG_KINDS: ReadonlyArray<readonly [flag: string, key: keyof CollectiveArgs, kinds: readonly Kind[]]> = [
  ['--bytes', 'bytes', COLLECTIVE_KINDS],
  ['--sweep', 'sweep', COLLECTIVE_KINDS],
  ['--algo', 'algo', COLLECTIVE_KINDS],
  ['--engine', 'engine', COLLECTIVE_KINDS],
  ['--cus', 'cus', COLLECTIVE_KINDS],
  ['--src', 'src', ['broadcast', 'send-recv']],
  ['--dst', 'dst', ['send-recv']],
  ['-m', 'm', ['cu-overlap']],
  ['-n', 'n', ['cu-overlap']],
  ['-k', 'k', ['cu-overlap']],
  ['--chunks', 'chunks', ['cu-overlap']],
  ['--overlap-cus', 'overlapCus', ['cu-overlap']],
];

function checkFlagsApply(args: CollectiveArgs): void {
  for (const [flag, key, kinds] of FLAG_KINDS) {
    if (args[key] === undefined || (kinds as readonly string[]).includes(args.kind)) continue;
    throw new SilicaError(`${flag}: not read by ${args.kind} (only by ${kinds === COLLECTIVE_KINDS ? 'the collectives' : kinds.join(', ')})`);
  }
  if (args.sweep !== undefined && args.bytes !== undefined) throw new SilicaError('--bytes: not with --sweep (the sweep sets the sizes)');
  if (args.cus !== undefined && args.engine === 'dma') throw new SilicaError('--cus: not with --engine dma (DMA engines hold no CUs)');
}

function gpusFrom(hw: HardwareConfig, args: CollectiveArgs): number {
  if (args.gpus !== undefined) return checkSimulatedGpus(parsePositiveInt(args.gpus, '--gpus'), '--gpus');
  return Math.min(8, hw.interconnect.gpus_per_node * hw.interconnect.nodes);
}

function parseSweep(text: string): [number, number] {
  const parts = text.split(':');
  if (parts.length !== 2) throw new SilicaError(`--sweep: expected min:max such as 8:8GiB, got "${text}"`);
  const lo = parseBytes(parts[0]!, '--sweep');
  const hi = parseBytes(parts[1]!, '--sweep');
  if (lo < 1 || hi < lo) throw new SilicaError(`--sweep: expected 1 <= min <= max, got "${text}"`);
  return [lo, hi];
}

function dtypeFrom(args: CollectiveArgs): Dtype {
  if (!(DTYPES as readonly string[]).includes(args.dtype)) throw new SilicaError(`--dtype: expected one of ${DTYPES.join(', ')}, got "${args.dtype}"`);
  return args.dtype as Dtype;
}

function specFrom(args: CollectiveArgs, kind: CollectiveKind, bytes: number): Omit<CollectiveSpec, 'ranks'> {
  return {
    kind,
    bytes,
    algo: args.algo ?? 'auto',
    engine: args.engine ?? 'cu',
    cus: args.cus !== undefined ? parsePositiveInt(args.cus, '--cus') : undefined,
    dtype: dtypeFrom(args),
    src: args.src !== undefined ? Number(parsePositiveIntOrZero(args.src, '--src')) : undefined,
    dst: args.dst !== undefined ? Number(parsePositiveIntOrZero(args.dst, '--dst')) : undefined,
    name: kind,
  };
}

/**
 * --src and --dst name ranks of the group (0 .. --gpus - 1), and send-recv's two differ: checked
 * here so the message names the flag (the collectives engine names only the rank).
 */
function checkRanks(kind: CollectiveKind, gpus: number, src: number | undefined, dst: number | undefined): void {
  const inGroup = `a rank of the ${gpus} GPUs (0 to ${gpus - 1}; --gpus sets them)`;
  if (src !== undefined && src >= gpus) throw new SilicaError(`--src: expected ${inGroup}, got ${src}`);
  if (dst !== undefined && dst >= gpus) throw new SilicaError(`--dst: expected ${inGroup}, got ${dst}`);
  if (kind === 'send-recv' && (src ?? 0) === (dst ?? 1)) {
    const flag = dst !== undefined ? '--dst' : '--src';
    throw new SilicaError(`${flag}: expected the receiver to differ from the sender, got --src ${src ?? '0 (the default)'} and --dst ${dst ?? '1 (the default)'}`);
  }
}

/** A rank: a whole number from 0. */
function parsePositiveIntOrZero(v: string, field: string): number {
  if (!/^\s*\d+\s*$/.test(v)) throw new SilicaError(`${field}: expected a rank (a whole number >= 0), got ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * The buffers one GPU holds for a collective of `bytes` (nccl-tests' size: the whole buffer), out of
 * place: a send and a receive buffer, one of them a rank's 1/n share where the collective scatters
 * or gathers. They must fit in its HBM, as on the real part.
 */
function buffersPerGpu(kind: CollectiveKind, gpus: number, bytes: number): number {
  return kind === 'reduce-scatter' || kind === 'all-gather' ? bytes + bytes / gpus : kind === 'send-recv' ? bytes : 2 * bytes;
}

function checkFits(hw: HardwareConfig, kind: CollectiveKind, gpus: number, bytes: number, flag: string): void {
  const need = buffersPerGpu(kind, gpus, bytes);
  const capacity = hw.memory.hbm.capacity_bytes;
  if (need > capacity) throw new SilicaError(`${flag}: expected ${kind}'s send and receive buffers to fit in ${hw.name}'s ${formatBytes(capacity)} of HBM, got ${formatBytes(need)} per GPU for ${formatBytes(bytes)}`);
}

/**
 * A buffer size the part can hold, not empty, in whole elements of the dtype (nccl-tests sizes a buffer in
 * elements: a size between two is no buffer). A sweep checks its smallest size for the elements
 * (doubling keeps it whole) and its largest for the HBM, before anything runs.
 */
function checkBufferSize(hw: HardwareConfig, args: CollectiveArgs, kind: CollectiveKind, gpus: number, sizes: { smallest: number; largest: number }, flag: string): void {
  // An empty buffer moves nothing: its bandwidth (0 GB/s) would read as a measurement.
  if (sizes.smallest < 1) throw new SilicaError(`${flag}: expected a positive size, got ${sizes.smallest} bytes`);
  checkFits(hw, kind, gpus, sizes.largest, flag);
  const dtype = dtypeFrom(args);
  const elementBytes = DTYPE_BYTES[dtype];
  if (sizes.smallest % elementBytes !== 0) throw new SilicaError(`${flag}: expected a whole number of ${dtype} elements (${elementBytes} bytes each), got ${sizes.smallest} bytes`);
}

function runOne(hw: HardwareConfig, args: CollectiveArgs, kind: CollectiveKind, gpus: number, bytes: number) {
  const spec = specFrom(args, kind, bytes);
  if (kind === 'send-recv' && gpus < 2) throw new SilicaError('send-recv: expected --gpus of at least 2');
  checkRanks(kind, gpus, spec.src, spec.dst);
  const run = simulateCollective(hw, gpus, spec);
  return {
    hw: hw.name,
    collective: kind,
    gpus,
    bytes,
    dtype: spec.dtype!,
    algo: run.algo,
    rings: run.rings,
    engine: spec.engine!,
    cus: spec.engine === 'cu' ? (spec.cus ?? hw.interconnect.collective.cus) : 0,
    time_us: run.timeNs / 1000,
    alg_bw_gbps: run.algBwGbps,
    bus_bw_gbps: run.busBwGbps,
    // Whole bytes: the flows' shares (a ring's block over its chunks) sum to the traffic up to
    // float rounding, and a fraction of a byte would print as a 6-digit approximation.
    link_bytes: Math.round(run.linkBytes),
    hbm_bytes: Math.round(run.hbmBytes),
  };
}

function printSweep(rows: Array<ReturnType<typeof runOne>>): void {
  const head = ['size(B)', 'count', 'type', 'time(us)', 'algbw(GB/s)', 'busbw(GB/s)'];
  const lines = rows.map((r) => [
    String(r.bytes),
    String(Math.floor(r.bytes / DTYPE_BYTES[r.dtype as Dtype])),
    r.dtype,
    r.time_us.toFixed(2),
    r.alg_bw_gbps.toFixed(2),
    r.bus_bw_gbps.toFixed(2),
  ]);
  const r0 = rows[0]!;
  // Where auto takes different algorithms by size (ring or tree across nodes), each row names its own.
  const mixed = rows.some((r) => r.algo !== r0.algo);
  if (mixed) {
    head.push('algo');
    lines.forEach((l, i) => l.push(rows[i]!.algo));
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ') + '\n';
  process.stdout.write(`# ${r0.collective} on ${r0.gpus} x ${r0.hw}, algo ${mixed ? 'by size' : r0.algo}, engine ${r0.engine}${r0.engine === 'cu' ? ` (${r0.cus} CUs)` : ''}\n`);
  process.stdout.write(fmt(head));
  for (const l of lines) process.stdout.write(fmt(l));
}

/** The T-NLG FC-2 GEMM at TP 8 (docs/interconnect.md), in 8 chunks, the all-reduce on 8 or 16 CUs. */
const CU_OVERLAP_DEFAULTS = { m: '8192', n: '4256', k: '2128', chunks: '8', overlapCus: '8,16' } as const;

function withCollectiveOptions<T>(y: Argv<T>) {
  return withHwOptions(y)
    .positional('kind', { choices: KINDS, describe: 'collective, or cu-overlap for the T3 all-reduce-on-CUs experiment' })
    .option('gpus', numberFlag('GPUs in the group (default: the node, at most 8)'))
    .option('bytes', { type: 'string', describe: 'per-GPU buffer size (nccl-tests "size"; default 1GiB)' })
    .option('algo', { choices: COLLECTIVE_ALGOS, describe: 'algorithm (default auto: as NCCL/RCCL pick: NVLS on a reducing switch, direct where a fully connected group has too few rings; an all-reduce across nodes on ring or tree, whichever closed-form estimate is faster; else ring). tree: all-reduce only, CU engine' })
    .option('engine', { choices: ['cu', 'dma'] as const, describe: 'run on CUs (a kernel, as NCCL/RCCL) or on DMA engines (default cu)' })
    .option('cus', numberFlag('CUs the CU engine holds (default interconnect.collective.cus)'))
    .option('dtype', { type: 'string', default: 'bf16', describe: DTYPES.join('|') })
    .option('sweep', { type: 'string', describe: 'size sweep min:max in x2 steps, e.g. 8:8GiB (nccl-tests -b -e -f 2)' })
    .option('src', numberFlag('broadcast root / send-recv sender (default 0)'))
    .option('dst', numberFlag('send-recv receiver (default 1)'))
    .option('m', numberFlag(`cu-overlap: GEMM M (tokens; default ${CU_OVERLAP_DEFAULTS.m})`))
    .option('n', numberFlag(`cu-overlap: GEMM N (hidden; the all-reduced output is M x N; default ${CU_OVERLAP_DEFAULTS.n})`))
    .option('k', numberFlag(`cu-overlap: GEMM K (FFN / TP; default ${CU_OVERLAP_DEFAULTS.k})`))
    .option('chunks', numberFlag(`cu-overlap: GEMM chunks whose all-reduces overlap the next chunk (default ${CU_OVERLAP_DEFAULTS.chunks})`))
    .option('overlap-cus', { type: 'string', describe: `cu-overlap: CU counts given to the all-reduce (default ${CU_OVERLAP_DEFAULTS.overlapCus})` });
}

export const collectiveCommand: CommandModule = {
  command: 'collective <kind>',
  describe: 'simulate a collective (all-reduce, reduce-scatter, all-gather, all-to-all, broadcast, send-recv) or the cu-overlap experiment',
  builder: (y) => withCollectiveOptions(y),
  handler: (argv) => {
    const args = argv as unknown as CollectiveArgs;
    checkFlagsApply(args);
    const hw = hardwareFrom(args);
    const gpus = gpusFrom(hw, args);
    if (args.kind === 'cu-overlap') {
      const d = CU_OVERLAP_DEFAULTS;
      const m = parsePositiveInt(args.m ?? d.m, '-m');
      const chunks = parsePositiveInt(args.chunks ?? d.chunks, '--chunks');
      // The GEMM is timed at the dtype's matrix rate: a part without one is named here, by the flag.
      const dtype = dtypeFrom(args);
      checkDtypeRate(hw, dtype, '--dtype');
      // A chunk is a block of the GEMM's rows: more chunks than rows would be empty blocks.
      if (chunks > m) throw new SilicaError(`--chunks: expected at most -m (${m}) row blocks, got ${chunks}`);
      const result = runCuOverlap(hw, {
        gpus,
        m,
        n: parsePositiveInt(args.n ?? d.n, '-n'),
        k: parsePositiveInt(args.k ?? d.k, '-k'),
        dtype,
        chunks,
        // Each count once: a repeated one would print the same row twice.
        overlapCus: [...new Set(String(args.overlapCus ?? d.overlapCus).split(',').map((c) => parsePositiveInt(c, '--overlap-cus')))],
        overlapCusField: args.overlapCus === undefined ? `--overlap-cus (not given: the default ${d.overlapCus})` : '--overlap-cus',
      });
      if (args.json) printJson({ ...result, published: PUBLISHED_CU_OVERLAP });
      else {
        printTable([
          ['hw', hw.name],
          ['gpus', gpus],
          ['gemm', `${result.m}x${result.n}x${result.k} ${result.dtype}`],
          ['gemm_us', result.gemm_us],
          ['allreduce_us', result.allreduce_us],
          ['sequential_us', result.sequential_us],
          ['ideal_overlap_speedup', `${result.ideal_speedup.toFixed(2)}x (published ${PUBLISHED_CU_OVERLAP.ideal}x)`],
          ...result.overlap.map((o): [string, string] => [
            `overlap_${o.cus}cus_speedup`,
            `${o.speedup.toFixed(2)}x (published ${PUBLISHED_CU_OVERLAP.byCus[o.cus] ?? '-'}x; ${o.time_us.toFixed(1)} us)`,
          ]),
        ]);
      }
      return;
    }
    const kind = args.kind as CollectiveKind;
    if (args.sweep !== undefined) {
      const [lo, hi] = parseSweep(args.sweep);
      const sizes: number[] = [];
      for (let b = lo; b <= hi; b *= 2) sizes.push(b);
      checkBufferSize(hw, args, kind, gpus, { smallest: sizes[0]!, largest: sizes.at(-1)! }, '--sweep');
      const rows = sizes.map((b) => runOne(hw, args, kind, gpus, b));
      if (args.json) printJson({ hw: hw.name, collective: kind, gpus, rows });
      else printSweep(rows);
      return;
    }
    const bytes = parseBytes(args.bytes ?? '1GiB', '--bytes');
    checkBufferSize(hw, args, kind, gpus, { smallest: bytes, largest: bytes }, '--bytes');
    const result = runOne(hw, args, kind, gpus, bytes);
    if (args.json) printJson(result);
    else printTable(Object.entries({ ...result, bytes: `${bytes} (${formatBytes(bytes)})` }));
  },
};
