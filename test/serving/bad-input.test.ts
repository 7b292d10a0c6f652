import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { reasonKind } from '../../src/sw/serving/engine.js';
import { azureTimestampS, loadRequestFile } from '../../src/sw/serving/requests.js';
import { parseServeConfig, resolveServe, runServe } from '../../src/sw/serving/serve.js';
import { splitPools } from '../../src/sw/serving/policies/disagg-pools.js';
import { getModel } from '../../src/sw/models/index.js';
import { DTYPES } from '../../src/hw/config/schema.js';
import { MAX_SERVE_REQUESTS } from '../../src/sw/serving/workloads.js';
import { loadExperimentFile } from '../../src/sweep/experiment.js';
import { expectOneLineError, silica, ROOT } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'silica-serving-bad-'));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
const SPLITWISE = 'arrived_at,num_prefill_tokens,num_decode_tokens\n';
/** The shipped serving study, edited. */
const experiment = (name: string, edit: (yaml: string) => string) => file(name, edit(readFileSync(join(ROOT, 'configs', 'experiments', 'rapid-serve.yaml'), 'utf8')));

/** The loader fails with a one-line SilicaError whose message matches. */
function expectLoadError(path: string, pattern: RegExp): void {
  expect(silicaErrorOf(() => loadRequestFile(path))).toMatch(pattern);
}

describe('bad request traces give one-line errors naming file, line and column', () => {
  it('rejects token counts that would wrap in an Int32Array (CSV and JSONL)', () => {
    expectLoadError(file('huge.csv', `${SPLITWISE}0,3000000000,10\n1,200,20\n`), /huge\.csv: line 2: num_prefill_tokens: expected a whole number of tokens from 1 to 2147483647, got "3000000000"$/);
    expectLoadError(file('huge.jsonl', '{"prompt_tokens":100,"output_tokens":5}\n{"prompt_tokens":3000000000,"output_tokens":5}\n'), /huge\.jsonl: line 2: prompt_tokens: expected a whole number of tokens from 1 to 2147483647, got 3000000000$/);
    expectLoadError(file('huge-out.jsonl', '{"prompt_tokens":1,"output_tokens":2147483648}\n'), /line 1: output_tokens: .* got 2147483648$/);
    // The largest Int32 still loads, unwrapped.
    expect(loadRequestFile(file('max.csv', `${SPLITWISE}0,2147483647,1\n`)).promptTokens[0]).toBe(2147483647);
  });

  it('rejects arrivals too late for a nanosecond clock (CSV, JSONL, Azure and --rate)', () => {
    expectLoadError(file('late.jsonl', '{"prompt_tokens":100,"output_tokens":10,"arrival_s":1e300}\n{"prompt_tokens":100,"output_tokens":10,"arrival_s":1e301}\n'), /late\.jsonl: line 2: arrival_s: expected an arrival at most 1000000000 s after the first request's, got 9e\+300 s after it$/);
    expectLoadError(file('late.csv', `${SPLITWISE}0,100,10\n2e9,100,10\n`), /late\.csv: line 3: arrived_at: expected an arrival at most 1000000000 s after the first request's/);
    expectLoadError(file('late-azure.csv', 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n9999-11-16 18:15:46,10,10\n'), /late-azure\.csv: line 3: TIMESTAMP: expected an arrival at most/);
    // Late in absolute terms is fine: times count from the first request.
    expect(Array.from(loadRequestFile(file('epoch.jsonl', '{"prompt_tokens":1,"output_tokens":1,"arrival_s":1e300}\n')).arrivalS!)).toEqual([0]);
    const r = silica(['serve', '--model', 'llama2-7b', '--requests', '2', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--rate', '1e-300']);
    expectOneLineError(r, /--rate: expected a rate whose arrivals stay within 1000000000 s of the first request, got 1e-300 req\/s/);
  });

  it('rejects blank numeric cells rather than reading them as 0', () => {
    expectLoadError(file('blank-arrival.csv', `${SPLITWISE}0,100,10\n,100,10\n`), /blank-arrival\.csv: line 3: arrived_at: expected seconds as a number, got ""$/);
    expectLoadError(file('space-arrival.csv', `${SPLITWISE}  ,100,10\n`), /line 2: arrived_at: expected seconds as a number/);
    expectLoadError(file('blank-tokens.csv', `${SPLITWISE}0, ,10\n`), /line 2: num_prefill_tokens: expected a whole number of tokens/);
    expectLoadError(file('blank-tokens.jsonl', '{"prompt_tokens":"","output_tokens":5}\n'), /line 1: prompt_tokens: expected a whole number of tokens/);
    expectLoadError(file('list-tokens.jsonl', '{"prompt_tokens":[5],"output_tokens":5}\n'), /line 1: prompt_tokens: expected a whole number of tokens/);
  });

  it('rejects JSONL lines that are valid JSON but not objects', () => {
    for (const [name, line] of [['null', 'null'], ['number', '42'], ['array', '[1, 2]'], ['string', '"x"']]) {
      const path = file(`${name}.jsonl`, `{"prompt_tokens":10,"output_tokens":5}\n\n${line}\n`);
      expectLoadError(path, new RegExp(`${name}\\.jsonl: line 3: expected a JSON object per line`));
    }
  });

  it('rejects impossible Azure timestamps before they roll over into another date', () => {
    const bad: Array<[string, RegExp]> = [
      ['2023-13-45 99:99:99', /T: expected a month from 01 to 12, got "2023-13-45 99:99:99"$/],
      ['2023-00-10 00:00:00', /a month from 01 to 12/],
      ['2023-02-29 00:00:00', /a day from 01 to 28 for 2023-02/],
      ['2023-04-31 00:00:00', /a day from 01 to 30 for 2023-04/],
      ['2023-01-00 00:00:00', /a day from 01 to 31/],
      ['2023-11-16 24:00:00', /an hour from 00 to 23/],
      ['2023-11-16 18:60:00', /minutes from 00 to 59/],
      ['2023-11-16 18:15:60.5', /seconds from 00 to 59/],
    ];
    for (const [text, pattern] of bad) expect(() => azureTimestampS(text, 'T'), text).toThrow(pattern);
    // A leap day is a real date.
    expect(azureTimestampS('2024-02-29 23:59:59.5', 'T')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59) / 1000 + 0.5);
    const path = file('azure-bad.csv', 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-13-45 99:99:99,10,10\n');
    expectLoadError(path, /azure-bad\.csv: line 3: TIMESTAMP: expected a month from 01 to 12, got "2023-13-45 99:99:99"$/);
  });
});

describe('bad serve settings fail up front', () => {

  it('names an unknown baseline or compared policy label in the experiment file', () => {
    const bad = experiment('bad-baseline.yaml', (y) => y.replace('baselines: [hybrid-512, disagg-4p4d]', 'baselines: [hybrid-999]'));
    expect(() => loadExperimentFile(bad)).toThrow(/bad-baseline\.yaml: baselines\.0: expected one of hybrid-512, hybrid-2048, disagg-4p4d, rapid \(the policies' names\), got "hybrid-999"$/);
    const second = experiment('bad-baseline-2.yaml', (y) => y.replace('baselines: [hybrid-512, disagg-4p4d]', 'baselines: [hybrid-512, disagg]'));
    expect(() => loadExperimentFile(second)).toThrow(/baselines\.1: expected one of .*, got "disagg"$/);
    const compare = experiment('bad-compare.yaml', (y) => y.replace('compare: rapid', 'compare: rapidd'));
    expect(() => loadExperimentFile(compare)).toThrow(/bad-compare\.yaml: compare: expected one of .*, got "rapidd"$/);
  });

  it('bounds the request count (flag, batch and experiment field)', () => {
    expect(() => parseServeConfig({ requests: MAX_SERVE_REQUESTS }, 'silica serve')).not.toThrow();
    expect(() => parseServeConfig({ requests: 100_000_000 }, 'silica serve')).toThrow(new RegExp(`silica serve: requests: expected at most ${MAX_SERVE_REQUESTS} .*got 100000000$`));
    expect(() => parseServeConfig({ batch: 100_000_000, input_len: 1, output_len: 1 }, 'silica serve')).toThrow(/batch: expected at most/);
    const big = experiment('big.yaml', (y) => y.replace('requests: 500', 'requests: 100000000'));
    expect(() => loadExperimentFile(big)).toThrow(/big\.yaml: requests: expected at most .*got 100000000$/);
  });

  it('splits disagg pools, naming the flag that set a bad pool (given or derived)', () => {
    const node = { gpus: 8, tp: 8, model: getModel('llama2-7b') };
    const o = { prefill_max_tokens: 8192 };
    expect(splitPools(node, o)).toEqual({ prefillGpus: 4, decodeGpus: 4, prefillTp: 4, decodeTp: 4 });
    expect(splitPools(node, { ...o, prefill_gpus: 2, decode_gpus: 4 })).toEqual({ prefillGpus: 2, decodeGpus: 4, prefillTp: 2, decodeTp: 4 });
    // The decode pool is what --prefill-gpus leaves: 0 of 8, or 6 whose TP width does not split the model.
    expect(silicaErrorOf(() => splitPools(node, { ...o, prefill_gpus: 8 }))).toMatch(/^--prefill-gpus: expected at most 7 \(the decode pool needs at least one of the 8 GPUs\), got 8$/);
    expect(silicaErrorOf(() => splitPools(node, { ...o, prefill_gpus: 2 }))).toMatch(/^--prefill-gpus 2: the decode pool of 6 GPUs gets TP width 6, and llama2-7b's attention width 4096 does not split evenly over 6 ranks$/);
    expect(silicaErrorOf(() => splitPools({ ...node, gpus: 1, tp: 1 }, o))).toMatch(/^--gpus: expected at least 2 for disagg .*got 1$/);
    expect(silicaErrorOf(() => splitPools(node, { ...o, prefill_gpus: 4, decode_gpus: 6 }))).toMatch(/^--decode-gpus: expected at most 4 .*got 6$/);
    expect(silicaErrorOf(() => splitPools({ ...node, tp: 4 }, { ...o, prefill_gpus: 6 }))).toMatch(/^--prefill-gpus 6: the prefill pool's 6 GPUs do not split into TP groups of 4$/);
    expect(silicaErrorOf(() => splitPools(node, { ...o, prefill_tp: 3 }))).toMatch(/^--prefill-tp: expected a divisor of the prefill pool's 4 GPUs, got 3$/);
    // --decode-gpus alone leaves the rest to prefill (it took half the node and refused 6 of 8).
    expect(splitPools({ ...node, tp: 2 }, { ...o, decode_gpus: 6 })).toEqual({ prefillGpus: 2, decodeGpus: 6, prefillTp: 2, decodeTp: 2 });
    expect(silicaErrorOf(() => splitPools(node, { ...o, decode_gpus: 6 }))).toMatch(/^--decode-gpus 6: the decode pool of 6 GPUs gets TP width 6, and llama2-7b's attention width 4096 does not split evenly over 6 ranks$/);
    expect(silicaErrorOf(() => splitPools(node, { ...o, decode_gpus: 8 }))).toMatch(/^--decode-gpus: expected at most 7 \(the prefill pool needs at least one of the 8 GPUs\), got 8$/);
    expect(silicaErrorOf(() => splitPools({ ...node, tp: 4 }, { ...o, decode_gpus: 2 }))).toMatch(/^--decode-gpus 2: the prefill pool's 6 GPUs do not split into TP groups of 4$/);
  });

  it('checks the disagg pools and the model when the config is resolved, before any run', () => {
    const config = parseServeConfig({ model: 'llama2-7b', policy: 'disagg', policy_options: { prefill_gpus: 8 }, rate: 1 }, 'silica serve');
    expect(silicaErrorOf(() => resolveServe(config))).toMatch(/^--prefill-gpus: expected at most 7/);
    expect(silicaErrorOf(() => resolveServe(parseServeConfig({ model: 'bert-base', rate: 1 })))).toBe('--model bert-base: an encoder-only model cannot be served (no decode)');
  });

  it('models fp32 serving end to end (weights and KV at 4 bytes), so --dtype takes it', () => {
    const batch = (dtype: string) => {
      const r = resolveServe(parseServeConfig({ model: 'llama2-7b', gpus: 1, tp: 1, policy: 'continuous', dtype, batch: 1, input_len: 500, output_len: 4 }));
      return runServe(r).summary;
    };
    const [bf16, fp32] = [batch('bf16'), batch('fp32')];
    expect(fp32.dtype).toBe('fp32');
    expect(Number(fp32.kv_blocks)).toBeLessThan(Number(bf16.kv_blocks) / 2);
    expect(Number(fp32.per_token_latency_ms)).toBeGreaterThan(1.8 * Number(bf16.per_token_latency_ms));
  });

  it('groups reject reasons by kind without mangling the model name', () => {
    const reason = (n: number) => `prompt + output = ${n} tokens exceed llama3.1-70b's context of 131072`;
    expect(reasonKind(reason(1000000010))).toBe("prompt + output = N tokens exceed llama3.1-70b's context of N");
    expect(reasonKind(reason(5))).toBe(reasonKind(reason(1000000010)));
    expect(reasonKind('needs 9 KV blocks (120 tokens) but replica 0 has 4.5')).toBe('needs N KV blocks (N tokens) but replica N has N');
  });
});

describe('silica serve reports bad input on one stderr line', () => {
  it('a trace with a token count past Int32', () => {
    const path = file('cli-huge.csv', `${SPLITWISE}0,3000000000,10\n1,200,20\n`);
    expectOneLineError(silica(['serve', '--trace', path, '--rate', '2', '--out', join(tmp, 'o')]), /cli-huge\.csv: line 2: num_prefill_tokens: expected a whole number of tokens from 1 to 2147483647/);
  });

  it('echoes a non-numeric flag as typed', () => {
    expectOneLineError(silica(['serve', '--gpus', 'abc']), /--gpus: expected a finite number, got "abc"$/);
    expectOneLineError(silica(['serve', '--rate', '']), /--rate: expected a finite number, got ""$/);
  });

  it('names the way to more GPUs than the nodes hold, as collective, replay and t3 do', () => {
    expectOneLineError(
      silica(['serve', '--model', 'llama3-8b', '--hw', 'h100-sxm', '--gpus', '16', '--tp', '16', '--requests', '2']),
      /^silica: --gpus: h100-sxm has 8 GPUs per node x 1 node\(s\) = 8, got 16 \(set interconnect\.nodes for a multi-node system\)$/,
    );
  });

  it('bounds --requests', () => {
    expectOneLineError(silica(['serve', '--rate', '2', '--requests', '100000000']), /requests: expected at most \d+ .*got 100000000$/);
  });

  it('rapid on a part with too few CUs to split names the field and the least it needs', () => {
    // MI300X deals CUs over 8 XCDs: each side of a prefill/decode split needs a CU in every one.
    expectOneLineError(
      silica(['serve', '--rate', '1', '--requests', '5', '--policy', 'rapid', '--set', 'compute.cus=8']),
      /^silica: policy rapid: compute\.cus: expected at least 2 per CU group \(16 over compute\.cu_groups 8\) to split between prefill and decode, got 8 on mi300x$/,
    );
  });

  it('a disagg pool left with no GPUs names the flag (serve), or the field (run, sweep)', () => {
    const disagg = ['serve', '--rate', '1', '--requests', '20', '--policy', 'disagg'];
    expectOneLineError(silica([...disagg, '--prefill-gpus', '8']), /^silica: --prefill-gpus: expected at most 7 \(the decode pool needs at least one of the 8 GPUs\), got 8$/);
    expectOneLineError(silica([...disagg, '--gpus', '1', '--tp', '1', '--model', 'llama2-7b']), /^silica: --gpus: expected at least 2 for disagg \(one for each pool, prefill and decode\), got 1$/);
    const study = experiment('disagg-8p.yaml', (y) => y.replace('options: { prefill_gpus: 4, decode_gpus: 4 }', 'options: { prefill_gpus: 8 }'));
    expectOneLineError(silica(['run', study, '--out', join(tmp, 'disagg-8p')]), /^silica: .*disagg-8p\.yaml: policies\.2\.options\.prefill_gpus: expected at most 7 .*got 8$/);
    const typo = experiment('disagg-typo.yaml', (y) => y.replace('options: { prefill_gpus: 4, decode_gpus: 4 }', 'options: { prefill_gpuss: 4 }'));
    expectOneLineError(silica(['run', typo, '--out', join(tmp, 'disagg-typo')]), /^silica: .*disagg-typo\.yaml: policies\.2\.options: expected no unknown fields \(prefill_gpuss\); known: prefill_gpus, /);
    const sweep = file('disagg-sweep.yaml', `name: s\nbase: ${study}\nvariants:\n  - { name: p7, set: { policies.2.options.prefill_gpus: 7 } }\n`);
    expectOneLineError(silica(['sweep', sweep, '--out', join(tmp, 'disagg-sweep'), '--jobs', '1', '--quiet']), /^silica: .*disagg-sweep\.yaml: point 0 \(variant=p7\): policies\.2\.options\.prefill_gpus 7: the prefill pool of 7 GPUs gets TP width 7/);
  });

  it('names the flag the user typed, not the schema field or a derived --tp', () => {
    // --rate 1 unless the case is about --rate: a repeated flag is refused (--rate 1 --rate 0).
    const serve = (...args: string[]) => silica(['serve', '--requests', '20', ...(args.includes('--rate') ? [] : ['--rate', '1']), ...args]);
    expectOneLineError(serve('--policy', 'disagg', '--prefill-gpus', '7'), /^silica: --prefill-gpus 7: the prefill pool of 7 GPUs gets TP width 7, and llama3\.1-70b's attention width 8192 does not split evenly over 7 ranks$/);
    expectOneLineError(serve('--model', 'bert-base'), /^silica: --model bert-base: an encoder-only model cannot be served \(no decode\)$/);
    const flagged: Array<[string[], RegExp]> = [
      [['--rate', '0'], /^silica: --rate: expected a positive number, got 0$/],
      [['--slo-share', '2'], /^silica: --slo-share: expected a number <= 1, got 2$/],
      [['--kv-dtype', 'int3'], /^silica: --kv-dtype: expected one of .*"fp8", got "int3"$/],
      [['--max-seqs', '1.5'], /^silica: --max-seqs: expected a whole number, got 1\.5$/],
      [['--itl-slo-ms', '0'], /^silica: --itl-slo-ms: expected a positive number, got 0$/],
      [['--policy', 'disagg', '--decode-gpus', '0'], /^silica: --decode-gpus: expected a positive number, got 0$/],
      [['--policy', 'rapid', '--arm-mode', 'both'], /^silica: --arm-mode: expected one of .*, got "both"$/],
      [['--policy', 'disagg', '--chunk', '512'], /^silica: --chunk: expected with --policy hybrid, got --policy disagg$/],
      [['--hw', 'mi100', '--gpus', '4', '--tp', '4', '--dtype', 'fp8'], /^silica: --dtype: mi100 has no fp8 rate \(expected one of .*\), got fp8$/],
    ];
    for (const [args, pattern] of flagged) {
      const r = serve(...args);
      expectOneLineError(r, pattern);
      expect(r.stderr, args.join(' ')).not.toMatch(/silica serve|Too (small|big)|_/);
    }
  });

  it('names the trace path given, and where else it was looked for', () => {
    expectOneLineError(silica(['serve', '--rate', '1', '--trace', 'no-such-trace.csv']), /^silica: no-such-trace\.csv: cannot read request trace: no such file \(nor in .*data[\\/]requests\)$/);
  });

  it('lists every dtype it takes in --help', () => {
    const help = silica(['serve', '--help']).stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`weights/activations dtype: ${DTYPES.join(' | ')}`);
  });

  it('escapes control characters of a trace header or cell instead of echoing them', () => {
    const header = file('ctl-header.csv', 'arr\rived\x1b[31m\x00,x\n1,2\n');
    const r = silica(['serve', '--rate', '1', '--trace', header]);
    expectOneLineError(r, /ctl-header\.csv: header: expected .*, got "arr\\rived\\u001b\[31m\\u0000,x"$/);
    expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
    const cell = file('ctl-cell.csv', `${SPLITWISE}\x1b[31m,5,5\n`);
    const c = silica(['serve', '--rate', '1', '--trace', cell]);
    expectOneLineError(c, /ctl-cell\.csv: line 2: arrived_at: expected seconds as a number, got "\\u001b\[31m"$/);
    expect(c.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
  });

  it('refuses --workload beside --trace, two sources of requests', () => {
    const trace = file('two-sources.jsonl', '{"prompt_tokens":100,"output_tokens":10,"arrival_s":0}\n');
    const r = silica(['serve', '--model', 'llama2-7b', '--requests', '1', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--trace', trace, '--workload', 'arxiv']);
    expectOneLineError(r, /^silica: --workload: not with --trace \(the trace is the workload\), got --workload arxiv and --trace \S*two-sources\.jsonl$/);
  });

  it('refuses a Poisson or Gamma --arrival beside a trace whose timestamps are its arrivals', () => {
    const trace = file('timed.jsonl', '{"prompt_tokens":100,"output_tokens":10,"arrival_s":0}\n{"prompt_tokens":100,"output_tokens":10,"arrival_s":2}\n');
    for (const arrival of ['poisson', 'gamma']) {
      const r = silica(['serve', '--model', 'llama2-7b', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--trace', trace, '--rate', '2', '--arrival', arrival]);
      expectOneLineError(r, new RegExp(`^silica: --arrival ${arrival}: not with \\S*timed\\.jsonl, whose timestamps are its arrivals`));
    }
    // Lengths-only files take synthetic arrivals; burst replaces the timestamps.
    const untimed = file('untimed.jsonl', '{"prompt_tokens":100,"output_tokens":10}\n{"prompt_tokens":100,"output_tokens":10}\n');
    expect(silica(['serve', '--model', 'llama2-7b', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--trace', untimed, '--rate', '2', '--arrival', 'gamma', '--json']).code).toBe(0);
    expect(silica(['serve', '--model', 'llama2-7b', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--trace', trace, '--arrival', 'burst', '--json']).code).toBe(0);
  });

  it('takes --arrival-cv for Gamma arrivals only: a burstier process queues more', () => {
    const base = ['serve', '--model', 'llama2-7b', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--workload', 'lmsys', '--rate', '2', '--requests', '200'];
    expectOneLineError(silica([...base, '--arrival-cv', '3']), /^silica: --arrival-cv: expected with --arrival gamma, got no --arrival$/);
    expectOneLineError(silica([...base, '--arrival', 'poisson', '--arrival-cv', '3']), /^silica: --arrival-cv: expected with --arrival gamma, got --arrival poisson$/);
    expectOneLineError(silica([...base, '--arrival', 'gamma', '--arrival-cv', '0']), /^silica: --arrival-cv: expected a positive number/);
    const ttft = (cv: string) => (JSON.parse(silica([...base, '--arrival', 'gamma', '--arrival-cv', cv, '--json']).stdout) as Record<string, number>).ttft_p99_ms!;
    expect(ttft('4')).toBeGreaterThan(ttft('1'));
  });

  it('refuses --rate and --goodput beside --arrival burst, which queues every request at t = 0', () => {
    const base = ['serve', '--model', 'llama2-7b', '--gpus', '1', '--tp', '1', '--policy', 'continuous', '--workload', 'lmsys', '--requests', '5', '--arrival', 'burst'];
    // The rate was ignored (the same outputs at any rate), and a goodput search reported rates no run used.
    expectOneLineError(silica([...base, '--rate', '3']), /^silica: --rate: not with --arrival burst \(every request arrives at t = 0\), got --rate 3$/);
    expectOneLineError(silica([...base, '--goodput']), /^silica: --goodput: not with --arrival burst \(every request arrives at t = 0: there is no rate to search\)$/);
    expect(silica([...base, '--json']).code).toBe(0);
  });

  it('refuses arrival flags beside an offline --batch, which would ignore them', () => {
    for (const [flag, value] of [['--rate', '3'], ['--arrival', 'burst'], ['--trace', 'azure-conv.csv'], ['--workload', 'arxiv']]) {
      expectOneLineError(silica(['serve', '--batch', '2', '--input-len', '5', '--output-len', '5', flag!, value!]), new RegExp(`^silica: ${flag}: not with an offline --batch \\(its requests all arrive at t = 0, with --input-len and --output-len\\)$`));
    }
  });

  it('keeps the model name in reject_reasons, with the count', () => {
    const line = '{"prompt_tokens":1000000000,"output_tokens":10,"arrival_s":0}\n';
    const trace = file('past-context.jsonl', line.repeat(4));
    const r = silica(['serve', '--trace', trace, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, string | number>;
    expect(summary.reject_reasons).toBe("4x prompt + output = N tokens exceed llama3.1-70b's context of N");
  });

  it('refuses an offline batch past the model context, whose every request would be rejected', () => {
    const r = silica(['serve', '--model', 'llama3-8b', '--hw', 'h100-sxm', '--gpus', '1', '--tp', '1', '--batch', '1', '--input-len', '8192', '--output-len', '2']);
    expectOneLineError(r, /^silica: --input-len \+ --output-len: expected at most llama3-8b's context of 8192 tokens, got 8192 \+ 2 = 8194$/);
  });
});
