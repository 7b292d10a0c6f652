import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { checkOutputPath, OutputSet, samePath, toCsv } from '../../core/io.js';
import { countOf, parsePositiveInt } from '../../core/units.js';
import { isHardwarePath } from '../../hw/config/load.js';
import { checkSimulatedGpus } from '../../hw/system.js';
import { traceInputFiles, worldSizeField, type LoadedTrace } from '../../trace/load.js';
import { chromeTrace } from '../../trace/chrome.js';
import { replayTrace, type ReplayResult } from '../../trace/replay.js';
import { hardwareFrom, numberFlag, printJson, printTable, traceFrom, withHwOptions, withTraceInput, type HwArgs, type TraceInputArgs } from '../common.js';

/**
 * `silica replay FILE`: replays a silica trace or Chakra ETs on a part, every rank explicitly,
 * and reports the time with a breakdown that sums to it (rule in src/trace/breakdown.ts);
 * optionally a per-node CSV and a Chrome/Perfetto timeline.
 */
interface ReplayArgs extends HwArgs, TraceInputArgs {
  gpus?: string;
  timing: 'duration' | 'model';
  chromeTrace?: string;
  kernels?: string;
}

const us = (ns: number) => ns / 1000;
const mapUs = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, us(v)]));

/**
 * Board energy where the part models its power and every kernel went through the kernel model
 * (a node at its recorded time has no power of its own, so a total would leave it out).
 */
function energyReport(r: ReplayResult): { energy?: { board_j: number; avg_board_power_w: number } } {
  if (!r.boardEnergyJ || r.stats.fromRecordedDuration > 0 || !(r.totalNs > 0)) return {};
  const boardJ = r.boardEnergyJ.reduce((s, j) => s + j, 0);
  return { energy: { board_j: boardJ, avg_board_power_w: (boardJ * 1e9) / r.totalNs / r.boardEnergyJ.length } };
}

export function replayReport(source: string, format: string, hw: string, r: ReplayResult) {
  const b = r.breakdown;
  return {
    trace: source,
    format,
    hw,
    gpus: r.stats.gpus,
    total_us: us(r.totalNs),
    breakdown: {
      rank: b.rank,
      rule: b.rule,
      by_category_us: mapUs(b.byCategory),
      by_pass_us: mapUs(b.byPass),
      by_category_pass_us: Object.fromEntries(Object.entries(b.byCategoryPass).map(([k, v]) => [k, mapUs(v)])),
    },
    ...energyReport(r),
    collectives: {
      count: r.collectives.length,
      link_bytes: r.collectives.reduce((s, c) => s + c.linkBytes, 0),
      time_us: r.collectives.reduce((s, c) => s + us(c.endNs - c.startNs), 0),
    },
    stats: {
      system_nodes: r.stats.systemNodes,
      nodes: r.stats.nodes,
      kernels: r.stats.kernels,
      delays: r.stats.delays,
      host_nodes: r.stats.hostNodes,
      collectives: r.stats.collectives,
      p2p_messages: r.stats.p2pMessages,
      from_recorded_duration: r.stats.fromRecordedDuration,
      single_rank_collectives: r.stats.singleRankCollectives,
      flops: r.stats.flops,
      hbm_bytes: r.stats.hbmBytes,
      kernel_cost_lookups: r.stats.kernelCostLookups,
      kernel_cost_hit_rate: r.stats.kernelCostHitRate,
      events: r.stats.events,
    },
  };
}

function kernelsCsv(r: ReplayResult): string {
  const rows = [...r.records]
    .sort((a, b) => a.startNs - b.startNs || a.rank - b.rank || a.nodeId - b.nodeId)
    .map((k) => ({
      rank: k.rank,
      stream: k.stream,
      node_id: k.nodeId,
      name: k.name,
      kind: k.kind,
      device: k.device,
      category: k.category,
      pass: k.pass,
      start_us: us(k.startNs),
      end_us: us(k.endNs),
      duration_us: us(k.endNs - k.startNs),
      flops: k.flops,
      hbm_read_bytes: k.hbmReadBytes,
      hbm_write_bytes: k.hbmWriteBytes,
      cus: k.cus,
    }));
  const columns = ['rank', 'stream', 'node_id', 'name', 'kind', 'device', 'category', 'pass', 'start_us', 'end_us', 'duration_us', 'flops', 'hbm_read_bytes', 'hbm_write_bytes', 'cus'];
  return toCsv(rows, columns);
}

/** Rejects an output that names the trace being replayed (or one of its Chakra files): writing it would destroy the input. */
function checkOutputsSpareInputs(a: ReplayArgs, loaded: LoadedTrace): void {
  const traces = a.file === '' || a.file === '-' ? [] : traceInputFiles(loaded);
  // A hardware file given by path (--hw my-part.yaml) is an input too; a preset name is not a path.
  const hwFile = a.hw !== undefined && isHardwarePath(a.hw) && existsSync(a.hw) ? [a.hw] : [];
  for (const [flag, out] of [['--kernels', a.kernels], ['--chrome-trace', a.chromeTrace]] as const) {
    if (out === undefined) continue;
    const trace = traces.find((f) => samePath(out, f));
    if (trace !== undefined) throw new SilicaError(`${flag} ${out}: expected an output file other than the trace being replayed, got its input ${trace}`);
    if (hwFile.some((f) => samePath(out, f))) throw new SilicaError(`${flag} ${out}: expected an output file other than the hardware file --hw ${a.hw}`);
  }
}

export const replayCommand: CommandModule = {
  command: 'replay <file>',
  describe: 'replay a silica trace or Chakra ETs on a part; time and breakdown',
  builder: (y) =>
    withTraceInput(withHwOptions(y))
      .option('gpus', numberFlag('GPUs to simulate (default: the trace world size)'))
      .option('timing', { choices: ['duration', 'model'] as const, default: 'duration' as const, describe: 'nodes with a kernel and a recorded time (Chakra COMP nodes with duration_micros, silica kernel nodes with duration_ns): that time, or the kernel model' })
      .option('chrome-trace', { type: 'string', describe: 'write a Chrome/Perfetto timeline (JSON, µs, pid = GPU, tid = stream)' })
      .option('kernels', { type: 'string', describe: 'write one CSV row per replayed node' }),
  handler: (argv) => {
    const a = argv as unknown as ReplayArgs;
    // Both outputs are checked before the replay; a write that still fails takes the other back.
    if (a.kernels !== undefined) checkOutputPath(a.kernels, '--kernels');
    if (a.chromeTrace !== undefined) checkOutputPath(a.chromeTrace, '--chrome-trace');
    if (a.kernels !== undefined && a.chromeTrace !== undefined && samePath(a.kernels, a.chromeTrace)) {
      throw new SilicaError(`--kernels and --chrome-trace: expected two different files, got ${a.kernels} for both (one would overwrite the other)`);
    }
    const hw = hardwareFrom(a);
    const gpus = a.gpus === undefined ? undefined : checkSimulatedGpus(parsePositiveInt(a.gpus, '--gpus'), '--gpus');
    const loaded = traceFrom(a);
    checkOutputsSpareInputs(a, loaded);
    // On its own world size, every rank of the trace is simulated: a larger one would not finish.
    if (gpus === undefined) checkSimulatedGpus(loaded.trace.worldSize, worldSizeField(loaded));
    const wantRecords = a.chromeTrace !== undefined || a.kernels !== undefined;
    const r = replayTrace(loaded.trace, hw, { gpus, chakraTiming: a.timing, recordTimeline: wantRecords });
    const outputs = new OutputSet();
    outputs.run(() => {
      if (a.kernels !== undefined) outputs.write(a.kernels, kernelsCsv(r), '--kernels');
      if (a.chromeTrace !== undefined) outputs.write(a.chromeTrace, JSON.stringify(chromeTrace(r.records, { trace: loaded.source, hw: hw.name, total_us: us(r.totalNs) }, r.clocks)) + '\n', '--chrome-trace');
    });
    const report = replayReport(loaded.source, loaded.format, hw.name, r);
    if (a.json) {
      printJson(report);
      return;
    }
    const rows: Array<[string, string | number]> = [
      ['trace', `${loaded.source} (${loaded.format}, ${countOf(r.stats.gpus, 'GPU')} of ${hw.name})`],
      ['total_us', report.total_us],
    ];
    const pct = (v: number) => (r.totalNs > 0 ? ` (${((100 * v) / r.totalNs).toFixed(1)}%)` : '');
    for (const [k, v] of Object.entries(r.breakdown.byCategory)) if (v > 0 || k === 'idle') rows.push([`  ${k}_us`, `${Number(us(v).toPrecision(6))}${pct(v)}`]);
    for (const [k, v] of Object.entries(r.breakdown.byPass)) if (v > 0) rows.push([`  pass ${k}_us`, `${Number(us(v).toPrecision(6))}${pct(v)}`]);
    if (report.energy) rows.push(['energy_j', Number(report.energy.board_j.toPrecision(6))], ['avg_board_power_w', Number(report.energy.avg_board_power_w.toPrecision(6))]);
    else if (r.boardEnergyJ) rows.push(['energy_j', `n/a (${countOf(r.stats.fromRecordedDuration, 'node')} at recorded times; --timing model costs them)`]);
    rows.push(['collectives', r.collectives.length], ['kernels', r.stats.kernels]);
    printTable(rows);
  },
};
