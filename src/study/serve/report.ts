/**
 * report.md of the serving study: the per model x workload tables docs/serving.md quotes
 * (unconstrained throughput, goodput, latency at the sweep's middle rate) and the averages.
 */
type Row = Record<string, string | number | boolean>;

const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? String(Number(x.toPrecision(digits))) : 'n/a');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');

export function serveReport(o: {
  models: string[];
  workloads: string[];
  policies: string[];
  compare: string;
  baselines: string[];
  rows: Row[];
  goodput: Row[];
  comparison: Row[];
  summary: Record<string, unknown>;
}): string {
  const lines: string[] = ['# Serving study report', ''];
  const cmp = (m: string, w: string, b: string) => o.comparison.find((r) => r.model === m && r.workload === w && r.baseline === b);
  const head = (cols: string[]) => {
    lines.push(`| model | workload | ${cols.join(' | ')} |`);
    lines.push(`|---|---|${cols.map(() => '---:').join('|')}|`);
  };
  const ratioCols = o.baselines.map((b) => `${o.compare} / ${b}`);

  lines.push('## Unconstrained throughput (req/s, every request queued at t = 0, to the 80th percentile completion)', '');
  head([...o.policies, ...ratioCols]);
  for (const m of o.models) {
    for (const w of o.workloads) {
      const u = (p: string) => Number(o.rows.find((r) => r.model === m && r.workload === w && r.policy === p && r.mode === 'unconstrained')?.throughput_req_s);
      lines.push(`| ${m} | ${w} | ${o.policies.map((p) => fmt(u(p))).join(' | ')} | ${o.baselines.map((b) => ratio(Number(cmp(m, w, b)?.throughput_ratio))).join(' | ')} |`);
    }
  }
  lines.push('', '## Goodput (req/s with the target share of requests meeting both SLOs)', '');
  head([...o.policies, ...ratioCols]);
  for (const m of o.models) {
    for (const w of o.workloads) {
      const g = (p: string) => Number(o.goodput.find((r) => r.model === m && r.workload === w && r.policy === p)?.goodput_req_s);
      lines.push(`| ${m} | ${w} | ${o.policies.map((p) => fmt(g(p))).join(' | ')} | ${o.baselines.map((b) => ratio(Number(cmp(m, w, b)?.goodput_ratio))).join(' | ')} |`);
    }
  }
  lines.push('', `## Latency at the sweep's middle rate (p95 ITL in ms; p95 TTFT of each baseline over ${o.compare}'s)`, '');
  head(['rate (req/s)', `${o.compare} p95 ITL`, ...o.baselines.map((b) => `${b} p95 ITL`), ...o.baselines.map((b) => `TTFT p95 ${b} / ${o.compare}`)]);
  for (const m of o.models) {
    for (const w of o.workloads) {
      const c = o.baselines.map((b) => cmp(m, w, b));
      const first = c.find((x) => x);
      lines.push(
        `| ${m} | ${w} | ${fmt(Number(first?.mid_rate_req_s))} | ${fmt(Number(first?.itl_p95_ms_policy))} | ${c.map((x) => fmt(Number(x?.itl_p95_ms_baseline))).join(' | ')} | ${c.map((x) => ratio(Number(x?.ttft_p95_ratio_at_mid_rate))).join(' | ')} |`,
      );
    }
  }
  lines.push('', '## Averages', '', '```json', JSON.stringify(o.summary, null, 2), '```', '');
  return lines.join('\n');
}
