import { readFileSync } from 'node:fs';
import { pinnedFile } from '../../core/pinned-files.js';
import { SilicaError } from '../../core/errors.js';

/**
 * Requests as a serving run sees them: when each arrives and how many tokens it brings and asks
 * for. Loaders read the CSV formats of the public traces (Azure LLM inference 2023, vidur's
 * processed splitwise/arXiv files) and JSONL; synthetic generators live in workloads.ts.
 */
export interface RequestSpec {
  id: number;
  arrivalNs: number;
  promptTokens: number;
  outputTokens: number;
}

/** Rows read from a file: arrival times may be absent (length-only files such as arXiv stats). */
export interface LoadedTrace {
  file: string;
  format: 'azure' | 'splitwise' | 'lengths' | 'jsonl';
  /** Seconds from the first request, or undefined when the file has no arrival times. */
  arrivalS?: Float64Array;
  promptTokens: Int32Array;
  outputTokens: Int32Array;
}

const NS_PER_S = 1e9;

/**
 * Latest arrival a run takes, in seconds after the first request (about 31.7 years). Times are
 * float64 nanoseconds: up to 1e18 ns they resolve to 128 ns or better; far beyond, a time loses the
 * resolution its ms metrics need, and past ~1.8e299 s it overflows to Infinity and the request
 * never arrives. Synthetic and --rate-rescaled arrivals are held to the same bound.
 */
export const MAX_ARRIVAL_S = 1e9;

/**
 * Reads a request file. Formats, detected from the header (CSV) or the extension (JSONL):
 * - Azure: `TIMESTAMP,ContextTokens,GeneratedTokens`, wall-clock timestamps with 7 fractional digits;
 * - splitwise (vidur): `arrived_at,num_prefill_tokens,num_decode_tokens`, seconds from the first row;
 * - lengths (vidur arXiv stats): `num_prefill_tokens,num_decode_tokens,...`, no arrival times;
 * - JSONL: one object per line with `prompt_tokens` and `output_tokens` (aliases `num_prefill_tokens`,
 *   `num_decode_tokens`) and optionally `arrival_s` (alias `arrived_at`).
 */
export function loadRequestFile(path: string, maxRows = Infinity): LoadedTrace {
  // A sweep's points read the trace as the sweep digested it (src/core/pinned-files.ts).
  let text = pinnedFile(path)?.text;
  if (text === undefined) text = readTrace(path);
  if (path.endsWith('.jsonl') || path.endsWith('.ndjson')) return parseJsonl(path, text, maxRows);
  return parseCsv(path, text, maxRows);
}

function readTrace(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : (code ?? String(err));
    throw new SilicaError(`${path}: cannot read request trace: ${why}`, { file: path });
  }
}

/** Cells are echoed in messages JSON-quoted: a stray \r, ESC or NUL in a file shows as an escape, not raw on the terminal. */
function parseCsv(file: string, text: string, maxRows: number): LoadedTrace {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  let format: LoadedTrace['format'];
  let cArrival: number;
  let cPrompt: number;
  let cOutput: number;
  if (col('TIMESTAMP') >= 0 && col('ContextTokens') >= 0 && col('GeneratedTokens') >= 0) {
    format = 'azure';
    [cArrival, cPrompt, cOutput] = [col('TIMESTAMP'), col('ContextTokens'), col('GeneratedTokens')];
  } else if (col('num_prefill_tokens') >= 0 && col('num_decode_tokens') >= 0) {
    format = col('arrived_at') >= 0 ? 'splitwise' : 'lengths';
    [cArrival, cPrompt, cOutput] = [col('arrived_at'), col('num_prefill_tokens'), col('num_decode_tokens')];
  } else {
    throw new SilicaError(
      `${file}: header: expected TIMESTAMP,ContextTokens,GeneratedTokens (Azure) or arrived_at,num_prefill_tokens,num_decode_tokens (splitwise) or num_prefill_tokens,num_decode_tokens (lengths), got ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`,
      { file, field: 'header' },
    );
  }
  const arrivals: number[] = [];
  const prompts: number[] = [];
  const outputs: number[] = [];
  const order: ArrivalCell[] = [];
  let t0: number | undefined;
  for (let i = 1; i < lines.length && prompts.length < maxRows; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const where = `${file}: line ${i + 1}`;
    prompts.push(tokenCount(cells[cPrompt], `${where}: ${header[cPrompt]}`));
    outputs.push(tokenCount(cells[cOutput], `${where}: ${header[cOutput]}`));
    if (format === 'lengths') continue;
    const raw = cells[cArrival]?.trim() ?? '';
    const s = format === 'azure' ? azureTimestampS(raw, `${where}: TIMESTAMP`) : arrivalSeconds(raw, `${where}: arrived_at`);
    t0 ??= s;
    arrivals.push(fromFirstS(s - t0, `${where}: ${header[cArrival]}`));
    order.push({ line: i + 1, field: header[cArrival]!, raw });
  }
  if (prompts.length === 0) throw new SilicaError(`${file}: expected at least one request row, got none`);
  checkMonotonic(file, arrivals, order);
  return {
    file,
    format,
    arrivalS: format === 'lengths' ? undefined : Float64Array.from(arrivals),
    promptTokens: Int32Array.from(prompts),
    outputTokens: Int32Array.from(outputs),
  };
}

function parseJsonl(file: string, text: string, maxRows: number): LoadedTrace {
  const arrivals: number[] = [];
  const prompts: number[] = [];
  const outputs: number[] = [];
  const lines = text.split(/\r?\n/);
  const order: ArrivalCell[] = [];
  let withArrival = 0;
  for (let i = 0; i < lines.length && prompts.length < maxRows; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const where = `${file}: line ${i + 1}`;
    const obj = jsonObject(line, where);
    prompts.push(tokenCount(obj.prompt_tokens ?? obj.num_prefill_tokens, `${where}: prompt_tokens`));
    outputs.push(tokenCount(obj.output_tokens ?? obj.num_decode_tokens, `${where}: output_tokens`));
    const a = obj.arrival_s ?? obj.arrived_at;
    if (a !== undefined) {
      if (typeof a !== 'number' || !Number.isFinite(a) || a < 0) throw new SilicaError(`${where}: arrival_s: expected seconds >= 0, got ${JSON.stringify(a)}`);
      fromFirstS(a - (arrivals[0] ?? a), `${where}: arrival_s`);
      arrivals.push(a);
      order.push({ line: i + 1, field: 'arrival_s', raw: String(a) });
      withArrival++;
    }
  }
  if (prompts.length === 0) throw new SilicaError(`${file}: expected at least one request line, got none`);
  if (withArrival !== 0 && withArrival !== prompts.length) {
    throw new SilicaError(`${file}: arrival_s: expected on every line or on none, got ${withArrival} of ${prompts.length}`);
  }
  const t0 = arrivals[0] ?? 0;
  const rel = arrivals.map((a) => a - t0);
  checkMonotonic(file, rel, order);
  return {
    file,
    format: 'jsonl',
    arrivalS: withArrival ? Float64Array.from(rel) : undefined,
    promptTokens: Int32Array.from(prompts),
    outputTokens: Int32Array.from(outputs),
  };
}

/** A JSONL line as an object; `null`, numbers, strings and arrays parse as JSON but carry no fields. */
function jsonObject(line: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new SilicaError(`${where}: expected a JSON object per line`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SilicaError(`${where}: expected a JSON object per line, got ${JSON.stringify(value).slice(0, 60)}`);
  }
  return value as Record<string, unknown>;
}

/** Token counts are stored in Int32Arrays (LoadedTrace): anything larger would wrap to a negative. */
const MAX_TOKENS = 2 ** 31 - 1;

function tokenCount(raw: unknown, where: string): number {
  // Number('') and Number([5]) are 0 and 5: only numbers and non-blank strings count as numbers.
  const text = typeof raw === 'string' ? raw.trim() : '';
  const n = typeof raw === 'number' ? raw : text === '' ? NaN : Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOKENS) {
    throw new SilicaError(`${where}: expected a whole number of tokens from 1 to ${MAX_TOKENS}, got ${JSON.stringify(raw) ?? 'nothing'}`);
  }
  return n;
}

/** A splitwise `arrived_at` cell: seconds as a number; a blank cell is not 0 (Number('') is). */
function arrivalSeconds(raw: string, where: string): number {
  const s = raw === '' ? NaN : Number(raw);
  if (!Number.isFinite(s)) throw new SilicaError(`${where}: expected seconds as a number, got ${JSON.stringify(raw)}`);
  return s;
}

/** An arrival, seconds after the first request's, within MAX_ARRIVAL_S. */
function fromFirstS(s: number, where: string): number {
  if (s > MAX_ARRIVAL_S) throw new SilicaError(`${where}: expected an arrival at most ${MAX_ARRIVAL_S} s after the first request's, got ${Number(s.toPrecision(6))} s after it`);
  return s;
}

/**
 * A request's arrival in ns. Arrivals from a file were checked row by row; these are the rescaled
 * (--rate) and synthetic ones, where the rate is what pushed them out of range.
 */
export function arrivalNsOf(arrivalS: number, ratePerS: number | undefined): number {
  if (!(arrivalS <= MAX_ARRIVAL_S)) {
    throw new SilicaError(`--rate: expected a rate whose arrivals stay within ${MAX_ARRIVAL_S} s of the first request, got ${ratePerS} req/s (an arrival at ${arrivalS} s)`);
  }
  return Math.round(arrivalS * NS_PER_S);
}

/** Where a request's arrival came from in its file, as written, for messages. */
interface ArrivalCell {
  line: number;
  field: string;
  raw: string;
}

/** Arrivals in time order; a message names the file's line and both values as the file writes them. */
function checkMonotonic(file: string, arrivals: number[], cells: readonly ArrivalCell[]): void {
  for (let i = 1; i < arrivals.length; i++) {
    if (arrivals[i]! < arrivals[i - 1]!) {
      const [now, before] = [cells[i]!, cells[i - 1]!];
      throw new SilicaError(`${file}: line ${now.line}: ${now.field}: expected arrivals in time order (non-decreasing), got ${JSON.stringify(now.raw)} after line ${before.line}'s ${JSON.stringify(before.raw)}`);
    }
  }
}

/** "2023-11-16 18:15:46.6805900" -> seconds since the epoch, keeping all 7 fractional digits. */
export function azureTimestampS(text: string, where: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(text);
  if (!m) throw new SilicaError(`${where}: expected a timestamp such as 2023-11-16 18:15:46.6805900, got ${JSON.stringify(text)}`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  // Date.UTC rolls out-of-range fields over (month 13 is next January), so check them first.
  const bad = dateTimeProblem(year, month, day, hour, minute, second);
  if (bad) throw new SilicaError(`${where}: expected ${bad}, got ${JSON.stringify(text)}`);
  const whole = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  const frac = m[7] ? Number(`0.${m[7]}`) : 0;
  return whole + frac;
}

/** What is out of range in a calendar date and time of day, or undefined when it is valid. */
function dateTimeProblem(year: number, month: number, day: number, hour: number, minute: number, second: number): string | undefined {
  if (month < 1 || month > 12) return 'a month from 01 to 12';
  // Day 0 of the next month is the last day of this one (leap years included).
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) return `a day from 01 to ${days} for ${year}-${String(month).padStart(2, '0')}`;
  if (hour > 23) return 'an hour from 00 to 23';
  if (minute > 59) return 'minutes from 00 to 59';
  if (second > 59) return 'seconds from 00 to 59';
  return undefined;
}

/** Mean arrival rate of a timestamped trace, requests per second ((n-1) / span, as SOURCES.md). */
export function traceRatePerS(trace: LoadedTrace): number | undefined {
  const a = trace.arrivalS;
  if (!a || a.length < 2) return undefined;
  const span = a[a.length - 1]! - a[0]!;
  return span > 0 ? (a.length - 1) / span : undefined;
}

/**
 * Turns a loaded trace into requests. With `ratePerS` set, a timestamped trace is time-scaled so
 * its mean rate becomes that rate (the burst structure is kept); a length-only trace needs
 * `arrivalsS` from a synthetic arrival process.
 */
export function requestsFromTrace(trace: LoadedTrace, options: { ratePerS?: number; arrivalsS?: Float64Array }): RequestSpec[] {
  const n = trace.promptTokens.length;
  let arrivals = trace.arrivalS;
  if (options.arrivalsS) arrivals = options.arrivalsS;
  else if (arrivals && options.ratePerS !== undefined) {
    const own = traceRatePerS(trace);
    const scale = own ? own / options.ratePerS : 1;
    arrivals = arrivals.map((a) => a * scale);
  }
  if (!arrivals) throw new SilicaError(`${trace.file}: has no arrival times; give --rate for synthetic (Poisson) arrivals`);
  const out: RequestSpec[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = { id: i, arrivalNs: arrivalNsOf(arrivals[i]!, options.ratePerS), promptTokens: trace.promptTokens[i]!, outputTokens: trace.outputTokens[i]! };
  }
  return out;
}
