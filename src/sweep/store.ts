import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { batchedWrites, checkOutputPath, roundTree, writeAllOf, writeFileAtomicFrom } from '../core/io.js';
import { bytesAt, isEntry, leadFile, readCompleted, rowsAt, sameList, SWEEP_FILES, unionColumns, type CompletedPoint, type LedgerEntry } from './completed.js';
import { csvHeader, csvLines, decodeLines, jsonlLines, rowsOfJsonl, scanJsonl, type PointTable } from './results.js';

/**
 * A sweep's output folder, written incrementally and safe against kill -9:
 *   results.jsonl, results.csv   rows, each point's appended as runs of whole lines
 *   points.jsonl                 the ledger: one line per completed point, appended after its rows
 *   config.resolved.yaml         the sweep and every point's resolved config
 *   summary.json                 written when every point of the sweep (or shard) is done
 *   sweep.lock                   while a run writes the folder: its process (lockSweepFolder)
 * A point counts as complete only when its ledger line is whole and its rows are all present, so
 * a kill between the two appends, or in the middle of one, makes the point run again on --resume
 * and never twice: `SweepWriter` first brings the folder back to the complete points alone, sorted
 * (cutting the files where the kill left them in order, else rewriting them from the rows on disk).
 * Rows are read and copied a point at a time, never all at once (completed.ts finds them).
 * Points finished within 50 ms of the last write are written together with the next ones, so a
 * kill can also lose the last few fast points; --resume runs those again.
 */

/** What the writer keeps of a point once it is appended: enough for the summary. */
export interface PointRecord {
  entry: LedgerEntry;
  /** The point's columns, in order of first appearance. */
  columns: string[];
}

/**
 * Writes a sweep folder. Construction compacts it to the given complete points, sorted (dropping
 * rows of half-finished points and a truncated last line); `append` adds one finished point: its
 * rows to both tables (whole lines per write), then its ledger line (WRITE_EVERY_MS says when).
 * Points appended in index order keep the files sorted as they grow, so nothing is held in memory
 * (but the last few milliseconds' lines) and `flush` has nothing to do;
 * only a point that arrives out of order, or brings a column the CSV header lacks, makes `flush`
 * rewrite the folder from disk, sorted, atomically.
 */
export class SweepWriter {
  private readonly records = new Map<number, PointRecord>();
  private columns: string[] | undefined;
  private columnSet = new Set<string>();
  private lastPoint = -Infinity;
  private unsorted = false;
  /** A row brought a column the CSV header lacks: the CSV is rebuilt at flush. */
  private csvStale = false;
  /**
   * The tables and the ledger, by file name, open for appending while points arrive: an open and a
   * close of three files for every point cost more than writing a small point's lines.
   */
  private readonly appending = new Map<string, number>();
  /** Finished points' lines not yet written, by file (see `append`). */
  private readonly pending = new Map<string, Array<string | Uint8Array>>();
  /** Their size (UTF-16 units for text: a bound, not an exact count). */
  private pendingBytes = 0;
  private lastWriteMs = -Infinity;

  constructor(
    private readonly dir: string,
    initial: readonly CompletedPoint[],
  ) {
    this.rewrite(initial);
  }

  private setColumns(columns: string[] | undefined): void {
    this.columns = columns;
    this.columnSet = new Set(columns);
  }

  private rewrite(points: readonly CompletedPoint[]): void {
    const sorted = [...points].sort((a, b) => a.entry.point - b.entry.point);
    const union = unionColumns(sorted);
    this.setColumns(union.length ? union : undefined);
    this.records.clear();
    for (const p of sorted) this.records.set(p.entry.point, { entry: p.entry, columns: p.columns });
    this.lastPoint = sorted.length ? sorted[sorted.length - 1]!.entry.point : -Infinity;
    this.unsorted = false;
    this.csvStale = false;
    if (this.truncateToPrefix(sorted)) return;
    // The rows are copied from where they are, point by point (this folder's own files are only
    // replaced once the new ones are whole: the sources stay open until then).
    const fds = new Map<string, number>();
    const fd = (file: string) => fds.get(file)!;
    try {
      for (const p of sorted) for (const file of [p.ranges.length ? p.file : undefined, p.csv?.file]) if (file && !fds.has(file)) fds.set(file, openSync(file, 'r'));
      const columns = this.columns;
      writeFileAtomicFrom(join(this.dir, SWEEP_FILES.csv), (write) => {
        if (!columns) return;
        write(csvHeader(columns));
        for (const p of sorted) {
          // Lines already written over these columns are copied; others are formatted from the rows.
          if (p.csv && sameList(p.csv.columns, columns)) write(bytesAt(fd(p.csv.file), p.csv.start, p.csv.end));
          else if (p.ranges.length) write(csvLines(columns, rowsAt(fd(p.file), p.ranges)));
        }
      });
      writeFileAtomicFrom(join(this.dir, SWEEP_FILES.results), (write) => {
        for (const p of sorted) for (const [start, end] of p.ranges) write(bytesAt(fd(p.file), start, end));
      });
    } finally {
      for (const fd of fds.values()) closeSync(fd);
    }
    // Entries from folders of earlier versions gain their columns here (see pointsByLedger).
    writeFileAtomicFrom(join(this.dir, SWEEP_FILES.ledger), (write) => {
      const out = batchedWrites(write);
      for (const p of sorted) out.add(jsonlLines([{ ...p.entry, columns: p.columns }]));
      out.end();
    });
  }

  /**
   * Resuming a folder that a kill left as it usually does: the complete points' lines first, in
   * point order, in all three files, then at most the start of an unfinished point. Cutting the
   * files after the complete points leaves exactly what a rewrite would write, without reading
   * and writing every row again. Returns false (nothing done) for any other layout.
   */
  private truncateToPrefix(sorted: readonly CompletedPoint[]): boolean {
    const results = join(this.dir, SWEEP_FILES.results);
    const csv = join(this.dir, SWEEP_FILES.csv);
    const columns = this.columns;
    if (sorted.length === 0 || !columns || !leadFile(sorted, results)) return false;
    // The CSV lines up when every point's lines were found in this folder's CSV, over these columns.
    if (!sorted.every((p) => p.csv?.file === csv && sameList(p.csv.columns, columns))) return false;
    const ledgerEnd = prefixOfLedger(join(this.dir, SWEEP_FILES.ledger), sorted);
    if (ledgerEnd === undefined) return false;
    // leadFile: the last range of any point ends where the last point with rows ends.
    truncateFile(results, sorted.reduce((end, p) => (p.ranges.length ? p.ranges[p.ranges.length - 1]![1] : end), 0));
    truncateFile(csv, sorted[sorted.length - 1]!.csv!.end);
    truncateFile(join(this.dir, SWEEP_FILES.ledger), ledgerEnd);
    return true;
  }

  append(entry: LedgerEntry, table: PointTable): void {
    let header = '';
    if (!this.columns && table.rows) {
      this.setColumns(table.columns);
      header = csvHeader(table.columns);
    }
    let csv: string | Uint8Array = table.csv;
    if (this.columns && !sameList(table.columns, this.columns)) {
      // Columns that appear only later are kept in results.jsonl and join the CSV at flush.
      if (table.columns.some((c) => !this.columnSet.has(c))) this.csvStale = true;
      csv = csvLines(this.columns, rowsOfJsonl(decodeLines(table.jsonl)));
    }
    this.queue(SWEEP_FILES.results, table.jsonl);
    this.queue(SWEEP_FILES.csv, header, csv);
    // Kept for every point until the summary: points with the header's columns share its list.
    const columns = this.columns && sameList(table.columns, this.columns) ? this.columns : table.columns;
    const recorded: LedgerEntry = { ...entry, columns };
    this.queue(SWEEP_FILES.ledger, jsonlLines([recorded]));
    if (entry.point < this.lastPoint) this.unsorted = true;
    else this.lastPoint = entry.point;
    this.records.set(entry.point, { entry: recorded, columns });
    // Points that finish within WRITE_EVERY_MS of the last write wait for the next one: three
    // writes a point were a tenth of a sweep of one-GEMM points. A point slower than that is
    // written as soon as it is appended, so a kill loses at most that much finished work.
    if (performance.now() - this.lastWriteMs >= WRITE_EVERY_MS || this.pendingBytes >= WRITE_BYTES) this.writePending();
  }

  private queue(file: string, ...chunks: Array<string | Uint8Array>): void {
    let lines = this.pending.get(file);
    if (!lines) this.pending.set(file, (lines = []));
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      lines.push(chunk);
      this.pendingBytes += chunk.length;
    }
  }

  /**
   * Writes the lines waiting, each file's in one writev: the tables before the ledger, so a kill
   * between writes leaves rows without their ledger line (run again on --resume), never a ledger
   * line without its rows.
   */
  private writePending(): void {
    for (const file of [SWEEP_FILES.results, SWEEP_FILES.csv, SWEEP_FILES.ledger]) {
      const lines = this.pending.get(file);
      if (!lines?.length) continue;
      this.appendTo(file, lines.map((l) => (typeof l === 'string' ? Buffer.from(l, 'utf8') : l)));
      lines.length = 0;
    }
    this.pendingBytes = 0;
    this.lastWriteMs = performance.now();
  }

  /** The complete points, sorted by point index. */
  points(): PointRecord[] {
    return [...this.records.values()].sort((a, b) => a.entry.point - b.entry.point);
  }

  /** Appends whole lines to one of the folder's files, opened on its first lines and kept open. */
  private appendTo(file: string, lines: readonly Uint8Array[]): void {
    let fd = this.appending.get(file);
    if (fd === undefined) this.appending.set(file, (fd = openSync(join(this.dir, file), 'a')));
    // Runs of whole lines, written in full: a kill leaves at worst the last line cut short.
    writeAllOf(fd, lines);
  }

  /** Writes the points appended so far and closes the files (flush does too); a later append opens them again. */
  close(): void {
    try {
      this.writePending();
    } finally {
      for (const fd of this.appending.values()) closeSync(fd);
      this.appending.clear();
    }
  }

  flush(): void {
    this.close();
    if (this.unsorted || this.csvStale) this.rewrite(readCompleted(this.dir).points);
  }
}

/** How long a finished point's lines may wait to be written with the next points', and how many bytes may wait. */
const WRITE_EVERY_MS = 50;
const WRITE_BYTES = 1 << 20;

/** Where the ledger's first lines, exactly the given points' entries in order, end; else undefined. */
function prefixOfLedger(path: string, sorted: readonly CompletedPoint[]): number | undefined {
  let i = 0;
  let end = 0;
  let ok = true;
  scanJsonl(path, (record, start, stop) => {
    if (!ok || i === sorted.length) return;
    const expected = sorted[i]!.entry;
    if (start !== end || !isEntry(record) || record.point !== expected.point || record.point_id !== expected.point_id || record.rows !== expected.rows) ok = false;
    else {
      end = stop;
      i++;
    }
  });
  return ok && i === sorted.length ? end : undefined;
}

function truncateFile(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * The files of an earlier run in a folder that a fresh (not --resume) run is about to replace: set
 * aside, renamed `FILE.earlier-PID`, instead of deleted, until the new run has finished a point of
 * its own. A run that fails before that (a point that cannot run, a bad column) leaves the folder
 * as it found it; one that fails later keeps its own finished points, for --resume.
 */
export class EarlierRun {
  private constructor(
    private readonly dir: string,
    private readonly setAside: string[],
  ) {}

  private dropped = false;

  static setAside(dir: string): EarlierRun {
    const moved: string[] = [];
    for (const file of Object.values(SWEEP_FILES)) {
      const path = join(dir, file);
      if (!existsSync(path)) continue;
      renameSync(path, earlierName(path, process.pid));
      moved.push(file);
    }
    return new EarlierRun(dir, moved);
  }

  /** The new run has a finished point (or is done): the earlier files go. */
  drop(): void {
    this.dropped = true;
    for (const file of this.setAside.splice(0)) rmSync(earlierName(join(this.dir, file), process.pid), { force: true });
  }

  /** The new run failed: unless it had finished a point (drop), what it wrote goes and the earlier files come back. */
  restore(): void {
    if (this.dropped) return;
    for (const file of Object.values(SWEEP_FILES)) rmSync(join(this.dir, file), { force: true });
    for (const file of this.setAside.splice(0)) renameSync(earlierName(join(this.dir, file), process.pid), join(this.dir, file));
  }
}

const earlierName = (path: string, pid: number) => `${path}.earlier-${pid}`;

/**
 * Tidies what a sweep killed by a signal left in its folder, where that process is gone: the
 * temporary files of an atomic write (`config.resolved.yaml.tmp-PID`: a large sweep's takes
 * seconds to write), and an earlier run's files it had set aside (EarlierRun). Those come back if
 * the killed run finished no point (its ledger is empty), else they go.
 */
export function removeLeftoverTemporaries(dir: string): void {
  const names = new Set<string>(Object.values(SWEEP_FILES));
  const leftovers = readdirSync(dir).flatMap((name) => {
    const m = /^(.+)\.(tmp|earlier)-(\d+)$/.exec(name);
    return m && names.has(m[1]!) && !processAlive(Number(m[3])) ? [{ name, file: m[1]!, kind: m[2]! }] : [];
  });
  for (const t of leftovers) if (t.kind === 'tmp') rmSync(join(dir, t.name), { force: true });
  const earlier = leftovers.filter((t) => t.kind === 'earlier');
  if (earlier.length === 0) return;
  // A run that had set files aside had no finished point before it (or it would have dropped them):
  // its ledger is small, and finished nothing unless it holds a whole line.
  const ledger = join(dir, SWEEP_FILES.ledger);
  const killedRunFinishedNothing = !existsSync(ledger) || !readFileSync(ledger, 'utf8').includes('\n');
  if (killedRunFinishedNothing) for (const file of Object.values(SWEEP_FILES)) rmSync(join(dir, file), { force: true });
  for (const t of earlier) {
    if (killedRunFinishedNothing) renameSync(join(dir, t.name), join(dir, t.file));
    else rmSync(join(dir, t.name), { force: true });
  }
}

const LOCK_FILE = 'sweep.lock';

/**
 * Refuses a sweep folder where one of the sweep's own names is taken by something other than a
 * file (a directory called results.csv): the run would fail half-way, after setting the earlier
 * files aside and writing some of its own. Checked before anything in the folder moves.
 */
export function checkSweepFolderEntries(dir: string): void {
  for (const file of [...Object.values(SWEEP_FILES), LOCK_FILE]) checkOutputPath(join(dir, file), '--out');
}

/** What a lock file says of its holder. `started` tells the holder from a later process given its pid. */
interface LockHolder {
  pid: number;
  host: string;
  started?: string;
}

/**
 * Claims a sweep folder for this process, or refuses with a one-line error while another live
 * process on this host holds it: two runs appending to the same tables interleave their points
 * (every point twice, a second CSV header mid-file). A lock left by a killed run, or by a run on
 * another host (a requeued Slurm task lands elsewhere; its predecessor cannot be asked), is taken
 * over. Returns the release, which removes the lock only while it is still this process's.
 */
export function lockSweepFolder(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const started = processStarted(process.pid);
  const me = JSON.stringify({ pid: process.pid, host: hostname(), ...(started ? { started } : {}) } satisfies LockHolder);
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, me + '\n');
      } finally {
        closeSync(fd);
      }
      return () => {
        if (existsSync(path) && readFileSync(path, 'utf8').trim() === me) rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockHolder(path);
    if (holder && holder.host === hostname() && holderAlive(holder)) {
      throw new SilicaError(`--out ${dir}: another silica sweep (process ${holder.pid}) is writing this folder; wait for it to end or use another --out (if no sweep is running there, remove ${path})`);
    }
    rmSync(path, { force: true });
  }
}

function lockHolder(path: string): LockHolder | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; host?: unknown; started?: unknown };
    if (!Number.isInteger(v.pid) || typeof v.host !== 'string') return undefined;
    return { pid: v.pid as number, host: v.host, ...(typeof v.started === 'string' ? { started: v.started } : {}) };
  } catch {
    return undefined; // unreadable or half-written: its writer was killed in the act
  }
}

/**
 * Whether the lock's holder still runs. A killed run's pid is given to the next process the
 * system starts once the pids wrap around (within hours on a busy login node, and after a
 * reboot): where the lock says when its holder started, a process started at another time is not
 * the holder. A lock without it (where neither /proc nor ps could say) trusts signal 0.
 */
function holderAlive(holder: LockHolder): boolean {
  if (!processAlive(holder.pid)) return false;
  const started = holder.started === undefined ? undefined : processStarted(holder.pid);
  return started === undefined || started === holder.started;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, but someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses): state first. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * A killed process stays in the process table until its parent reaps it, and signal 0 still
 * reaches it: a run killed a moment ago (`kill -9`, then `--resume` at once) would hold its folder
 * from beyond. Linux says so in /proc (state Z); elsewhere `ps` does.
 */
function isZombie(pid: number): boolean {
  const stat = procStat(pid);
  return (stat ? stat[0] : psProcess(pid)?.state)?.startsWith('Z') ?? false;
}

let bootId: string | undefined;

/**
 * When a process started, as Linux counts it: the boot's id and the start time in clock ticks
 * since that boot (/proc/PID/stat field 22), which together no other process shares. Where there
 * is no /proc (macOS, the BSDs), `ps`'s start time, to the second. Undefined where neither says
 * (the process is gone).
 */
function processStarted(pid: number): string | undefined {
  const ticks = procStat(pid)?.[19];
  if (ticks === undefined) return psProcess(pid)?.started;
  try {
    bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
  return `${bootId}/${ticks}`;
}

/**
 * `ps`'s view of a process, for systems without /proc: when it started (`lstart`, to the second,
 * in the C locale so that its text does not depend on the user's) and its state (`Z` for a
 * zombie). POSIX ps has both columns; undefined when the process is gone or there is no ps.
 */
export function psProcess(pid: number): { started: string; state: string } | undefined {
  const r = spawnSync('ps', ['-o', 'lstart=', '-o', 'stat=', '-p', String(pid)], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const match = r.status === 0 ? /^\s*(.*?)\s+(\S+)\s*$/.exec(r.stdout) : null;
  return match ? { started: `ps/${match[1]!.replace(/\s+/g, ' ')}`, state: match[2]! } : undefined;
}

export function isSweepDir(dir: string): boolean {
  return existsSync(join(dir, SWEEP_FILES.ledger));
}

/** summary.json: the sweep's totals, and each point's own summary (where its kind gives one) in point_summaries. */
export interface SweepSummary {
  sweep: string;
  source: string;
  points_total: number;
  shard?: string;
  points: number;
  rows: number;
  columns: string[];
}

/**
 * Writes summary.json, the point summaries one at a time: a sweep of hundreds of thousands of
 * points would otherwise hold every one as an object and the whole file as one string. The text
 * is JSON.stringify(summary, null, 2) of the whole, with numbers rounded (roundTree).
 */
export function writeSweepSummary(dir: string, header: { sweep: string; source: string; points_total: number; shard?: string }, points: readonly PointRecord[]): SweepSummary {
  const summary: SweepSummary = { ...header, points: points.length, rows: points.reduce((n, p) => n + p.entry.rows, 0), columns: unionColumns(points) };
  const withSummary = points.filter((p) => p.entry.summary);
  writeFileAtomicFrom(join(dir, SWEEP_FILES.summary), (write) => {
    if (withSummary.length === 0) {
      write(JSON.stringify(roundTree(summary), null, 2) + '\n');
      return;
    }
    // The whole's text up to the list's opening bracket: `"point_summaries": []` renders last.
    const head = JSON.stringify(roundTree({ ...summary, point_summaries: [] }), null, 2);
    const out = batchedWrites(write);
    out.add(head.slice(0, head.length - '[]\n}'.length) + '[\n');
    withSummary.forEach((p, i) => {
      const item = { point: p.entry.point, point_id: p.entry.point_id, ...p.entry.tags, ...p.entry.summary };
      // Each item sits two levels deep: every line of its own text moves right by four spaces.
      out.add(`    ${JSON.stringify(roundTree(item), null, 2).replace(/\n/g, '\n    ')}${i + 1 < withSummary.length ? ',' : ''}\n`);
    });
    out.add('  ]\n}\n');
    out.end();
  });
  return summary;
}

export function requireSweepDir(dir: string): void {
  if (!existsSync(dir)) throw new SilicaError(`${dir}: no such folder (expected the --out of silica sweep)`);
  if (!isSweepDir(dir)) throw new SilicaError(`${dir}: not a sweep output folder (no ${SWEEP_FILES.ledger}; expected the --out of silica sweep)`);
}
