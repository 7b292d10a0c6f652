import type { CommandModule } from 'yargs';
import { countOf, formatBytes, parsePositiveInt } from '../../core/units.js';
import { OP_CATEGORIES } from '../../kernels/types.js';
import { DEFAULT_BUCKET_MIB } from '../../sw/index.js';
import { HardwareCoster } from '../../study/bert/coster.js';
import { categoryShare } from '../../study/bert/findings.js';
import { simulateIteration } from '../../study/bert/iteration.js';
import { bertPointSchema, parallelismProblem, pointGpus, pointMemory, precisionLabel } from '../../study/bert/point.js';
import { energyFigures, gemmRows, iterationFigures } from '../../study/bert/tables.js';
import { flagNumber, numberFlag, positiveFlagNumber, recomputeFlag, printJson, withHwOptions, type HwArgs, type NumberArg, type NumberFlag } from '../common.js';
import { SilicaError } from '../../core/errors.js';
import { listModels } from '../../sw/models/index.js';

interface BertArgs extends HwArgs {
  model: string;
  seq: NumberArg;
  batch: NumberArg;
  precision: string;
  mixedDtype?: string;
  optimizer: string;
  optimizerImpl: string;
  microBatches: NumberArg;
  tp: NumberArg;
  sequenceParallel: boolean;
  dp: NumberArg;
  zeroStage: NumberFlag;
  overlap: boolean;
  bucketMb: NumberFlag;
  recompute: boolean;
  selectiveRecompute: boolean;
  flashAttention: boolean;
  fuseBiasAct: boolean;
  steps?: string;
  gemms: boolean;
}

/**
 * `silica bert`: one BERT training configuration, one optimizer step of one GPU, with its
 * breakdown per op category and pass (time, FLOPs, DRAM bytes), samples/s and time to train.
 */
export const bertCommand: CommandModule = {
  command: 'bert',
  describe: 'simulate one BERT training iteration (breakdown per category and pass, samples/s, time to train)',
  builder: (y) =>
    withHwOptions(y)
      .option('model', { type: 'string', default: 'bert-large', describe: `model from the zoo: ${listModels().join(' | ')}` })
      .option('seq', numberFlag('sequence length', { default: 128 }))
      .option('batch', numberFlag('sequences per micro-batch per GPU', { default: 32 }))
      .option('precision', { type: 'string', default: 'mixed', describe: 'fp32 | mixed | mixed-fp16 | mixed-bf16 | fp16 | bf16 (mixed: fp32 master weights, half-precision compute)' })
      .option('mixed-dtype', { type: 'string', describe: 'half dtype of --precision mixed: fp16 | bf16 (default fp16)' })
      .option('optimizer', { type: 'string', default: 'lamb', describe: 'adam | lamb' })
      .option('optimizer-impl', { type: 'string', default: 'fused', describe: "fused (one multi-tensor kernel per stage and layer) | per-tensor (PyTorch's for-loop AdamW: a kernel per op and parameter; adam only)" })
      .option('micro-batches', numberFlag('micro-batches per optimizer step (gradient accumulation)', { default: 1 }))
      .option('tp', numberFlag('tensor-parallel GPUs (Megatron: heads and FFN columns split, an all-reduce per block in forward and backward; adjacent GPUs)', { default: 1 }))
      .option('sequence-parallel', { type: 'boolean', default: false, describe: "Megatron's sequence parallelism over the --tp GPUs: norms, dropouts and residuals on 1/tp of the tokens, each all-reduce a reduce-scatter + all-gather" })
      .option('dp', numberFlag('data-parallel ranks, each --tp GPUs (beyond a node spans nodes)', { default: 1 }))
      .option('zero-stage', numberFlag('ZeRO: 0 none, 1 optimizer states sharded over the --dp ranks, 2 gradients too, 3 weights too (adam only)', { default: 0 }))
      .option('overlap', { type: 'boolean', default: true, describe: 'overlap the gradient all-reduce with backward (--no-overlap: after it)' })
      .option('bucket-mb', numberFlag("gradient bucket size in MiB, one all-reduce each (PyTorch DDP's bucket_cap_mb)", { default: DEFAULT_BUCKET_MIB }))
      .option('recompute', { type: 'boolean', default: false, describe: 'recompute each layer forward in backward' })
      .option('selective-recompute', { type: 'boolean', default: false, describe: 'recompute only core attention (QK^T, softmax, dropout, PV) in backward (Korthikanti et al. 2023)' })
      .option('flash-attention', { type: 'boolean', default: false, describe: 'fused attention instead of batched GEMMs + softmax' })
      .option('fuse-bias-act', { type: 'boolean', default: true, describe: 'bias+GeLU and bias+dropout+residual as one kernel each (--no-fuse-bias-act: every element-wise op its own kernel)' })
      .option('steps', numberFlag('optimizer steps for a time-to-train estimate'))
      .option('gemms', { type: 'boolean', default: false, describe: 'also list every distinct GEMM (shape, FLOPs, bytes, intensity, bound)' }),
  handler: (argv) => {
    const a = argv as unknown as BertArgs;
    const parsed = bertPointSchema.safeParse({
      model: a.model,
      seq: parsePositiveInt(a.seq, '--seq'),
      batch: parsePositiveInt(a.batch, '--batch'),
      precision: precisionLabel(a.precision, a.mixedDtype),
      optimizer: a.optimizer,
      optimizer_impl: a.optimizerImpl,
      micro_batches: parsePositiveInt(a.microBatches, '--micro-batches'),
      tp: parsePositiveInt(a.tp, '--tp'),
      sequence_parallel: a.sequenceParallel,
      dp: parsePositiveInt(a.dp, '--dp'),
      zero_stage: flagNumber('zero-stage', a.zeroStage),
      overlap: a.overlap,
      bucket_mb: positiveFlagNumber('bucket-mb', a.bucketMb),
      recompute: recomputeFlag(a),
      flash_attention: a.flashAttention,
      fuse_bias_act: a.fuseBiasAct,
      hw: a.hw,
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = String(issue.path[0] ?? '');
      // As every flag's message does: what was expected, then what was given.
      const given = (a as unknown as Record<string, unknown>)[field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())];
      const expected = issue.code === 'invalid_value' ? `expected one of ${issue.values.map(String).join(', ')}` : issue.message;
      throw new SilicaError(`--${field.replace(/_/g, '-')}: ${expected}${given === undefined ? '' : `, got ${JSON.stringify(given)}`}`);
    }
    const point = parsed.data;
    const parallel = parallelismProblem(point);
    if (parallel) throw new SilicaError(`--${parallel.field.replace(/_/g, '-')}: ${parallel.message}`);
    const steps = a.steps === undefined ? undefined : parsePositiveInt(a.steps, '--steps');
    const coster = new HardwareCoster(a.hw, a.set ?? []);
    const r = simulateIteration(point, coster);
    const breakdown = r.cells.map((c) => ({ category: c.category, pass: c.pass, time_us: c.timeNs / 1e3, share: c.timeNs / r.iterationNs, flops: c.flops, dram_bytes: c.bytes, kernels: c.kernels }));
    const categories = Object.fromEntries(OP_CATEGORIES.map((c) => [c, categoryShare(r, c)]).filter(([, s]) => (s as number) > 0));
    const memory = pointMemory(point);
    const hbmBytes = coster.hw.memory.hbm.capacity_bytes;
    const result = {
      ...point,
      hw: coster.hw.name,
      iteration_us: r.iterationNs / 1e3,
      samples_per_iteration: r.samplesPerIteration,
      samples_per_s: r.samplesPerSecond,
      gpus: pointGpus(point),
      samples_per_s_per_gpu: r.samplesPerSecond / pointGpus(point),
      ...(steps ? { steps, time_to_train_s: (steps * r.iterationNs) / 1e9 } : {}),
      ...iterationFigures(r),
      ...energyFigures(r),
      // Per GPU: model states and one micro-batch's activations (src/sw/train/memory.ts).
      memory_bytes: { model_states: memory.modelStateBytes, activations: memory.activationBytes, total: memory.totalBytes },
      fits_hbm: memory.totalBytes <= hbmBytes,
      category_share: categories,
      breakdown,
      ...(a.gemms ? { gemms: gemmRows(r) } : {}),
    };
    if (!result.fits_hbm) {
      // Timed all the same (what-if studies may want it), but said: the real step would not run.
      process.stderr.write(
        `silica bert: note: the step needs about ${formatBytes(memory.totalBytes)} per GPU (model states ${formatBytes(memory.modelStateBytes)}, activations ${formatBytes(memory.activationBytes)}), more than ${coster.hw.name}'s ${formatBytes(hbmBytes)} of HBM: a real run would not fit (fewer sequences per micro-batch, with --micro-batches, --recompute and --flash-attention keep less)\n`,
      );
    }
    if (a.json) {
      printJson(result);
      return;
    }
    const w = (s: string) => process.stdout.write(s + '\n');
    w(`${point.model} seq ${point.seq} batch ${point.batch}x${point.micro_batches} ${point.precision} ${point.optimizer}${point.optimizer_impl === 'fused' ? '' : ` (${point.optimizer_impl})`}${point.tp > 1 ? ` tp ${point.tp}${point.sequence_parallel ? ' (sequence-parallel)' : ''}` : ''}${point.dp > 1 ? ` dp ${point.dp}${point.overlap ? ' (overlapped)' : ''} buckets ${point.bucket_mb} MiB${point.zero_stage ? ` ZeRO-${point.zero_stage}` : ''}` : ''}${point.recompute ? (point.recompute === 'selective' ? ' selective-recompute' : ' recompute') : ''}${point.flash_attention ? ' fused-attention' : ''}${point.fuse_bias_act ? '' : ' unfused'} on ${coster.hw.name}`);
    w(`iteration ${(r.iterationNs / 1e3).toFixed(1)} us, ${r.samplesPerSecond.toFixed(1)} samples/s${pointGpus(point) > 1 ? ` (${(r.samplesPerSecond / pointGpus(point)).toFixed(1)} per GPU of ${pointGpus(point)})` : ''}, ${result.achieved_tflops.toFixed(1)} TFLOP/s (matmul), memory-bound ${(100 * result.memory_bound_share).toFixed(1)}%`);
    w(`memory per GPU ${formatBytes(memory.totalBytes)} (model states ${formatBytes(memory.modelStateBytes)}, activations ${formatBytes(memory.activationBytes)}) of ${formatBytes(hbmBytes)} HBM`);
    const energy = energyFigures(r);
    if (energy) w(`board energy ${energy.board_energy_j.toPrecision(4)} J per iteration (${countOf(pointGpus(point), 'GPU')}), ${energy.energy_per_sample_j.toPrecision(4)} J per sample, ${energy.avg_board_power_w.toFixed(0)} W per GPU`);
    if (steps) w(`time to train ${steps} steps: ${((steps * r.iterationNs) / 3.6e12).toFixed(2)} h`);
    w('');
    w(`${'category'.padEnd(14)}${'pass'.padEnd(6)}${'time_us'.padStart(12)}${'share'.padStart(8)}${'GFLOP'.padStart(12)}${'DRAM_GB'.padStart(10)}${'kernels'.padStart(9)}`);
    for (const b of breakdown) {
      w(`${b.category.padEnd(14)}${b.pass.padEnd(6)}${b.time_us.toFixed(1).padStart(12)}${(100 * b.share).toFixed(1).padStart(7)}%${(b.flops / 1e9).toFixed(1).padStart(12)}${(b.dram_bytes / 1e9).toFixed(3).padStart(10)}${String(b.kernels).padStart(9)}`);
    }
    w(`${'total'.padEnd(20)}${(r.iterationNs / 1e3).toFixed(1).padStart(12)}${'100.0%'.padStart(8)}${(r.flops / 1e9).toFixed(1).padStart(12)}${(r.bytes / 1e9).toFixed(3).padStart(10)}`);
    if (a.gemms) {
      w('');
      for (const g of result.gemms ?? []) w(`${String(g.pass).padEnd(4)} ${String(g.gemm).padEnd(22)} M=${g.m} N=${g.n} K=${g.k} batch=${g.gemm_batch}  AI ${Number(g.arithmetic_intensity_flop_per_byte).toFixed(0)} FLOP/B  ${Number(g.achieved_tflops).toFixed(0)} TFLOP/s  ${g.bound}`);
    }
  },
};
