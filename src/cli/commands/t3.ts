import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { parsePositiveInt } from '../../core/units.js';
import { CONFIGURATIONS, runSublayer, type Configuration } from '../../study/t3/configs.js';
import { PASS_OF, parseSublayer, sublayerGemm, SUBLAYERS } from '../../study/t3/sublayers.js';
import { resultRows } from '../../study/t3/rows.js';
import { hardwareFrom, numberFlag, printJson, withHwOptions, type HwArgs, type NumberArg } from '../common.js';
import { listModels } from '../../sw/models/index.js';

/**
 * `silica t3`: one Megatron sub-layer (its row-parallel GEMM and the all-reduce behind it) under
 * every T3 study configuration, simulated on every GPU of the TP group (mission.md §2).
 */
interface T3Args extends HwArgs {
  model: string;
  tp: string;
  sublayer: string;
  pass?: string;
  tokens: NumberArg;
  configurations?: string[];
  cuSplitCus: NumberArg;
}

const COLUMNS = ['configuration', 'time_us', 'speedup_vs_sequential', 'dram_read_bytes', 'dram_write_bytes', 'link_bytes'] as const;

export const t3Command: CommandModule = {
  command: 't3',
  describe: `simulate one tensor-parallel sub-layer under the T3 configurations (${CONFIGURATIONS.join(', ')})`,
  builder: (y) =>
    withHwOptions(y, 't3-baseline')
      .option('model', { type: 'string', demandOption: true, describe: `model from the zoo: ${listModels().join(' | ')}` })
      .option('tp', numberFlag('tensor-parallel GPUs (every one is simulated)', { demandOption: true }))
      .option('sublayer', { type: 'string', demandOption: true, describe: SUBLAYERS.join('|') })
      .option('pass', { type: 'string', describe: 'fwd (attn-out, fc2) | bwd (fc1, qkv): checked against the sub-layer' })
      .option('tokens', numberFlag('tokens per micro-batch (the GEMM M)', { default: 8192 }))
      .option('configurations', { type: 'string', array: true, describe: `subset of ${CONFIGURATIONS.join(', ')} (default all)` })
      .option('cu-split-cus', numberFlag('CUs the cu-split collective holds', { default: 16 })),
  handler: (argv) => {
    const args = argv as unknown as T3Args;
    const hw = hardwareFrom(args);
    const sublayer = parseSublayer(args.sublayer, args.pass);
    const tp = parsePositiveInt(args.tp, '--tp');
    const tokens = parsePositiveInt(args.tokens, '--tokens');
    const requested = (args.configurations ?? [...CONFIGURATIONS]).flatMap((c) => c.split(',')).filter(Boolean);
    if (requested.length === 0) throw new SilicaError(`--configurations: expected one or more of ${CONFIGURATIONS.join(', ')}, got none`);
    for (const c of requested) {
      if (!(CONFIGURATIONS as readonly string[]).includes(c)) throw new SilicaError(`--configurations: expected any of ${CONFIGURATIONS.join(', ')}, got "${c}"`);
    }
    const configs = [...new Set(['sequential', ...requested])] as Configuration[];
    const shape = sublayerGemm(args.model, tp, sublayer, tokens);
    const results = runSublayer(hw, shape, tp, configs, { cuSplitCus: parsePositiveInt(args.cuSplitCus, '--cu-split-cus') });
    const rows = resultRows({ hw: hw.name, model: args.model, tp, sublayer, tokens }, shape, results, results[0]!).filter((r) => requested.includes(r.configuration as string));
    if (args.json) {
      printJson({ hw: hw.name, model: args.model, tp, sublayer, pass: PASS_OF[sublayer], tokens, m: shape.m, n: shape.n, k: shape.k, configurations: rows });
      return;
    }
    process.stdout.write(`${args.model} ${sublayer} (${PASS_OF[sublayer]}) TP ${tp} on ${hw.name}: GEMM ${shape.m}x${shape.n}x${shape.k} ${shape.dtype}, every GPU simulated\n`);
    const cells = rows.map((r) => COLUMNS.map((c) => (typeof r[c] === 'number' ? format(r[c] as number) : String(r[c]))));
    const widths = COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
    process.stdout.write(COLUMNS.map((c, i) => c.padEnd(widths[i]!)).join('  ') + '\n');
    for (const row of cells) process.stdout.write(row.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ') + '\n');
  },
};

function format(v: number): string {
  return Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(1) : v.toPrecision(4);
}
