import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { countOf, parsePositiveInt } from '../../core/units.js';
import { DTYPES, type Dtype } from '../../hw/config/schema.js';
import { checkSimulatedGpus } from '../../hw/system.js';
import { bucketBytesFromMib, buildDecodeTrace, buildPrefillTrace, buildTrainingTrace, DEFAULT_BUCKET_MIB, getModel, OPTIMIZER_IMPLS, OPTIMIZERS, type OptimizerImpl, type ZeroStage } from '../../sw/index.js';
import { PRECISION_LABELS, precisionLabel, precisionOf } from '../../study/bert/point.js';
import { writeTrace, type TraceFormat } from '../../trace/load.js';
import type { Trace } from '../../trace/types.js';
import { flagNumber, hardwareFrom, numberFlag, positiveFlagNumber, recomputeFlag, printJson, type NumberArg, type NumberFlag } from '../common.js';
import { listModels } from '../../sw/models/index.js';

/**
 * `silica emit`: builds a model's kernel trace (training step, prefill or decode step) and writes
 * it as a silica trace (`-o -` streams it to stdout, for `silica emit ... -o - | silica replay -`)
 * or as Chakra ETs (one file per rank).
 */
interface EmitArgs {
  model: string;
  phase: 'train' | 'prefill' | 'decode';
  batch: string;
  seq?: string;
  context?: string;
  precision: string;
  mixedDtype?: string;
  optimizer: string;
  optimizerImpl: string;
  microBatches: NumberArg;
  recompute: boolean;
  selectiveRecompute: boolean;
  sequenceParallel: boolean;
  flashAttention: boolean;
  fuseBiasAct: boolean;
  tp: NumberArg;
  dp: NumberArg;
  bucketMb: NumberFlag;
  overlap: boolean;
  zeroStage: NumberFlag;
  dtype: string;
  kvDtype?: string;
  format: TraceFormat;
  gzip: boolean;
  out: string;
  hw?: string;
  set?: string[];
  json: boolean;
}

/** The part a Chakra export costs num_ops/tensor_size on when --hw is not given. */
const DEFAULT_CHAKRA_HW = 'mi300x';

function dtypeOf(text: string, field: string): Dtype {
  if (!(DTYPES as readonly string[]).includes(text)) throw new SilicaError(`${field}: expected one of ${DTYPES.join(', ')}, got "${text}"`);
  return text as Dtype;
}

function need(value: string | undefined, field: string, phase: string): string {
  if (value === undefined) throw new SilicaError(`${field}: required for --phase ${phase}`);
  return value;
}

/**
 * The ranks a trace would have, refused before it is built when replay could not simulate them all
 * (the trace would be written, then hang its replay).
 */
function checkWorldSize(tp: number, dp: number): void {
  const flags = dp === 1 ? '--tp' : tp === 1 ? '--dp' : `--tp ${tp} x --dp ${dp}`;
  checkSimulatedGpus(tp * dp, flags);
}

/**
 * Flags of another phase, refused rather than ignored (a prefill with --context 5 was byte-identical
 * to one without). Those with defaults count as given when they differ from the default.
 */
function checkPhaseFlags(a: EmitArgs): void {
  const given: Array<[flag: string, given: boolean, phases: readonly EmitArgs['phase'][]]> = [
    ['--seq', a.seq !== undefined, ['train', 'prefill']],
    ['--context', a.context !== undefined, ['decode']],
    ['--kv-dtype', a.kvDtype !== undefined, ['decode']],
    ['--dtype', a.dtype !== 'bf16', ['prefill', 'decode']],
    ['--precision', a.precision !== 'mixed', ['train']],
    ['--mixed-dtype', a.mixedDtype !== undefined, ['train']],
    ['--optimizer', a.optimizer !== 'adam', ['train']],
    ['--optimizer-impl', a.optimizerImpl !== 'fused', ['train']],
    ['--micro-batches', String(a.microBatches) !== '1', ['train']],
    ['--recompute', a.recompute, ['train']],
    ['--selective-recompute', a.selectiveRecompute, ['train']],
    ['--no-fuse-bias-act', !a.fuseBiasAct, ['train']],
    ['--dp', String(a.dp) !== '1', ['train']],
    ['--bucket-mb', String(a.bucketMb) !== String(DEFAULT_BUCKET_MIB), ['train']],
    ['--no-overlap', !a.overlap, ['train']],
    ['--zero-stage', String(a.zeroStage) !== '0', ['train']],
    ['--sequence-parallel', a.sequenceParallel, ['train']],
  ];
  for (const [flag, isGiven, phases] of given) {
    if (isGiven && !phases.includes(a.phase)) throw new SilicaError(`${flag}: only with --phase ${phases.join(' or ')}, not ${a.phase}`);
  }
}

export function buildTraceFromArgs(a: EmitArgs): Trace {
  checkPhaseFlags(a);
  const model = getModel(a.model);
  const batch = parsePositiveInt(a.batch, '--batch');
  const tp = parsePositiveInt(a.tp, '--tp');
  const dp = a.phase === 'train' ? parsePositiveInt(a.dp, '--dp') : 1;
  checkWorldSize(tp, dp);
  switch (a.phase) {
    case 'train': {
      // The precisions silica bert takes (mixed-fp16, mixed-bf16, or mixed with --mixed-dtype), so any of its steps can be emitted.
      const { precision, mixedDtype } = precisionOf(precisionLabel(a.precision, a.mixedDtype));
      if (!(OPTIMIZERS as readonly string[]).includes(a.optimizer)) throw new SilicaError(`--optimizer: expected one of ${OPTIMIZERS.join(', ')}, got "${a.optimizer}"`);
      return buildTrainingTrace(model, {
        batch,
        seq: parsePositiveInt(need(a.seq, '--seq', 'train'), '--seq'),
        precision,
        mixedDtype,
        optimizer: a.optimizer as 'adam' | 'lamb',
        optimizerImpl: a.optimizerImpl as OptimizerImpl,
        microBatches: parsePositiveInt(a.microBatches, '--micro-batches'),
        recompute: recomputeFlag(a),
        tp,
        sequenceParallel: a.sequenceParallel,
        dp,
        flashAttention: a.flashAttention,
        fuseBiasAct: a.fuseBiasAct,
        bucketBytes: bucketBytesFromMib(positiveFlagNumber('bucket-mb', a.bucketMb) ?? DEFAULT_BUCKET_MIB),
        overlapGradAllReduce: a.overlap,
        zeroStage: (flagNumber('zero-stage', a.zeroStage) ?? 0) as ZeroStage,
      });
    }
    case 'prefill':
      return buildPrefillTrace(model, { batch, seq: parsePositiveInt(need(a.seq, '--seq', 'prefill'), '--seq'), tp, dtype: dtypeOf(a.dtype, '--dtype'), flashAttention: a.flashAttention });
    case 'decode': {
      const text = need(a.context, '--context', 'decode');
      const parts = String(text).split(',').map((c) => parsePositiveInt(c.trim(), '--context'));
      return buildDecodeTrace(model, {
        batch,
        context: parts.length === 1 ? parts[0]! : parts,
        tp,
        dtype: dtypeOf(a.dtype, '--dtype'),
        kvDtype: a.kvDtype === undefined ? undefined : dtypeOf(a.kvDtype, '--kv-dtype'),
      });
    }
  }
}

export const emitCommand: CommandModule = {
  command: 'emit',
  describe: 'build a kernel trace (train step, prefill, decode step) and write it (silica or Chakra ET)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: `zoo model: ${listModels().join(' | ')}` })
      .option('phase', { choices: ['train', 'prefill', 'decode'] as const, default: 'train' as const, describe: 'what the trace holds: a training step, a prompt\'s prefill, or a decode step' })
      .option('batch', numberFlag('sequences (train: per micro-batch and DP rank; decode: requests)', { demandOption: true }))
      .option('seq', numberFlag('sequence length (train, prefill)'))
      .option('context', { type: 'string', describe: 'decode: cached tokens per request (one number, or one per request: 512,2048,...)' })
      .option('precision', { type: 'string', default: 'mixed', describe: `train: ${PRECISION_LABELS.join('|')}|mixed (mixed: fp32 master weights, half-precision compute, --mixed-dtype)` })
      .option('mixed-dtype', { type: 'string', describe: 'train: half dtype of --precision mixed: fp16 | bf16 (default fp16)' })
      .option('optimizer', { type: 'string', default: 'adam', describe: `train: ${OPTIMIZERS.join('|')}` })
      .option('optimizer-impl', { type: 'string', default: 'fused', describe: `train: ${OPTIMIZER_IMPLS.join('|')} (per-tensor: PyTorch's for-loop AdamW)` })
      .option('micro-batches', numberFlag('train: gradient-accumulation steps', { default: 1 }))
      .option('recompute', { type: 'boolean', default: false, describe: 'train: activation recomputation' })
      .option('selective-recompute', { type: 'boolean', default: false, describe: 'train: recompute only core attention (Korthikanti et al. 2023)' })
      .option('flash-attention', { type: 'boolean', default: false, describe: 'fused attention instead of GEMM + softmax' })
      .option('fuse-bias-act', { type: 'boolean', default: true, describe: 'train: bias+GeLU and bias+dropout+residual as one kernel each (--no-fuse-bias-act: one kernel per element-wise op)' })
      .option('tp', numberFlag('tensor-parallel ranks', { default: 1 }))
      .option('sequence-parallel', { type: 'boolean', default: false, describe: "train: Megatron's sequence parallelism over the --tp ranks (norms, dropouts and residuals on 1/tp of the tokens)" })
      .option('dp', numberFlag('train: data-parallel ranks', { default: 1 }))
      .option('zero-stage', numberFlag('train: ZeRO 0 (none), 1 (optimizer states sharded over --dp), 2 (gradients too) or 3 (weights too, gathered layer by layer); adam only', { default: 0 }))
      .option('bucket-mb', numberFlag("train: gradient bucket size in MiB, one all-reduce each (PyTorch DDP's bucket_cap_mb)", { default: DEFAULT_BUCKET_MIB }))
      .option('overlap', { type: 'boolean', default: true, describe: 'train: reduce each gradient bucket during backward (--no-overlap: after it)' })
      .option('dtype', { type: 'string', default: 'bf16', describe: `prefill/decode: ${DTYPES.join('|')}` })
      .option('kv-dtype', { type: 'string', describe: 'decode: KV-cache dtype (default: --dtype)' })
      .option('format', { choices: ['silica', 'chakra'] as const, default: 'silica' as const, describe: 'silica trace, or Chakra ETs (<out>.<rank>.et)' })
      .option('gzip', { type: 'boolean', default: false, describe: 'gzip the output' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: "output file ('-' = stdout; Chakra: file prefix)" })
      .option('hw', { type: 'string', describe: `Chakra only: part whose cost model gives num_ops/tensor_size (default: ${DEFAULT_CHAKRA_HW})` })
      .option('set', { type: 'string', array: true, describe: 'Chakra only: override a hardware field of --hw' })
      .option('json', { type: 'boolean', default: false, describe: 'print what was written as JSON' }),
  handler: (argv) => {
    const a = argv as unknown as EmitArgs;
    // A silica trace holds no costs (replay costs it on its own --hw): a part given for it would be ignored.
    if (a.format !== 'chakra') {
      if (a.hw !== undefined) throw new SilicaError(`--hw: only with --format chakra, not ${a.format}`);
      if (a.set !== undefined) throw new SilicaError(`--set: only with --format chakra, not ${a.format}`);
    }
    const hw = a.format === 'chakra' ? hardwareFrom({ hw: a.hw ?? DEFAULT_CHAKRA_HW, set: a.set }) : undefined;
    const trace = buildTraceFromArgs(a);
    const files = writeTrace(trace, a.out, a.format, { gzip: a.gzip, hw });
    if (a.out === '-') return;
    const nodes = trace.programs.reduce((s, p) => s + p.length, 0);
    const result = { files, format: a.format, world_size: trace.worldSize, programs: trace.programs.length, nodes };
    if (a.json) printJson(result);
    else process.stdout.write(`wrote ${files.join(', ')} (${a.format}, ${countOf(trace.worldSize, 'rank')}, ${countOf(nodes, 'node')})\n`);
  },
};
