import type { CommandModule } from 'yargs';
import { countOf } from '../../core/units.js';
import { inspectChakraFile, inspectTrace, type ChakraFileSummary, type TraceSummary } from '../../trace/summary.js';
import { hardwareFrom, printJson, printTable, traceFrom, withHwOptions, withTraceInput, type HwArgs, type TraceInputArgs } from '../common.js';

/**
 * `silica inspect FILE`: what a trace holds (nodes, kernels, FLOPs, bytes, collectives); for
 * Chakra ETs also each rank file's own counts (node types, collectives by type and size,
 * point-to-point messages, dependency quirks), read straight from the file.
 */
type InspectArgs = HwArgs & TraceInputArgs;

export const inspectCommand: CommandModule = {
  command: 'inspect <file>',
  describe: 'summarise a silica trace or Chakra ETs (nodes, kernels, FLOPs, bytes, collectives)',
  builder: (y) =>
    withTraceInput(withHwOptions(y)),
  handler: (argv) => {
    const a = argv as unknown as InspectArgs;
    const hw = hardwareFrom(a);
    const loaded = traceFrom(a);
    const summary = inspectTrace(loaded.trace, hw);
    const chakra = loaded.chakra
      ? { prefix: loaded.chakra.prefix, files: loaded.chakra.files.length, comm_groups_file: loaded.chakra.commGroupsFile ?? null, ranks: loaded.chakra.files.map(inspectChakraFile) }
      : undefined;
    const report = { trace: loaded.source, format: loaded.format, ...summary, ...(chakra ? { chakra } : {}) };
    if (a.json) {
      printJson(report);
      return;
    }
    // Counts are the whole world's: a multi-rank trace says so, and an SPMD one what a rank does
    // (what silica bert and the closed forms count), so 8 data-parallel ranks do not read as 8x the model.
    const world = (total: number): string | number => {
      if (summary.world_size === 1) return total;
      const perRank = summary.programs === 1 ? `; ${total / summary.world_size} a rank` : '';
      return `${total} (${countOf(summary.world_size, 'rank')}${perRank})`;
    };
    const rows: Array<[string, string | number]> = [
      ['trace', `${loaded.source} (${loaded.format})`],
      ['world_size', summary.world_size],
      ['programs', summary.programs === 1 && summary.world_size > 1 ? '1 (SPMD)' : summary.programs],
      ['nodes', world(summary.nodes)],
      ['node_kinds', Object.entries(summary.node_kinds).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['kernels', world(summary.kernels)],
      ['host_nodes', summary.host_nodes],
      ['flops', world(summary.flops)],
      [`hbm_bytes (${hw.name})`, world(summary.hbm_bytes)],
      ['collectives', collectivesLine(summary.collectives)],
      ['p2p', `${summary.p2p.sends} sends, ${summary.p2p.recvs} recvs, ${summary.p2p.bytes} bytes sent`],
      ['streams', Object.entries(summary.streams).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['by_category (nodes)', Object.entries(summary.by_category).map(([k, v]) => `${k} ${v.nodes}`).join(', ')],
      ['by_pass (nodes)', Object.entries(summary.by_pass).map(([k, v]) => `${k} ${v.nodes}`).join(', ')],
    ];
    for (const [k, v] of Object.entries(summary.meta)) rows.push([`meta.${k}`, String(v)]);
    printTable(rows);
    if (chakra) {
      process.stdout.write(`\nChakra ET: ${chakra.files} rank file(s), prefix ${chakra.prefix}${chakra.comm_groups_file ? `, groups ${chakra.comm_groups_file}` : ''}\n`);
      for (const line of chakraLines(chakra.ranks)) process.stdout.write(line + '\n');
    }
  },
};

/** One line per rank, or one line for a run of ranks with identical counts. */
function chakraLines(ranks: ChakraFileSummary[]): string[] {
  const describe = (s: ChakraFileSummary) => {
    const types = Object.entries(s.node_types).map(([k, v]) => `${k.replace(/_NODE$/, '')} ${v}`).join(', ');
    const coll = s.collectives.map((c) => `${c.type} ${c.bytes}B x${c.count}`).join('; ');
    const p2p = s.p2p.map((p) => `${p.type}${p.type === 'send' ? '->' : '<-'}${p.peer} ${p.bytes}B x${p.count}`).join('; ');
    const extra = [
      s.collectives_without_comm_type ? `${s.collectives_without_comm_type} coll without comm_type` : '',
      s.missing_deps ? `${s.missing_deps} deps to missing ids` : '',
      s.forward_deps ? `${s.forward_deps} forward deps` : '',
    ].filter(Boolean);
    return `${s.nodes} nodes (${types})${coll ? `; collectives ${coll}` : ''}${p2p ? `; ${p2p}` : ''}${extra.length ? `; ${extra.join(', ')}` : ''}`;
  };
  const lines: string[] = [];
  let i = 0;
  while (i < ranks.length) {
    const d = describe(ranks[i]!);
    let j = i;
    while (j + 1 < ranks.length && describe(ranks[j + 1]!) === d) j++;
    lines.push(`  rank ${i === j ? i : `${i}-${j}`}: ${d}`);
    i = j + 1;
  }
  return lines;
}

/**
 * Collectives as replay counts them (one for all of a group's ranks), with the nodes behind them:
 * `26 (52 nodes, one per rank taking part): all-reduce 196608B x25 [all 2]; ...`.
 */
function collectivesLine(c: TraceSummary['collectives']): string {
  const count = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
  const kinds = c.by_kind.map((k) => `${k.kind} ${k.bytes}B x${count(k.count)} [${k.group}]`).join('; ');
  const nodes = c.nodes === c.count ? '' : ` (${countOf(c.nodes, 'node')}, one per rank taking part)`;
  return `${count(c.count)}${nodes}${kinds ? `: ${kinds}` : ''}`;
}
