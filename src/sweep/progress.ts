import cliProgress from 'cli-progress';

/**
 * Progress on stderr (stdout stays clean for --json): a bar with ETA when stderr is a terminal,
 * plain lines at most every `intervalS` seconds otherwise (logs of batch jobs, CI).
 */
export interface Progress {
  update(done: number, label?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  total: number;
  /** Already done when starting (resumed sweeps). */
  start?: number;
  /** What is counted ('points'), or '%' for a run that reports its fraction done (a count of 100 would repeat the percentage). */
  unit: string;
  /** Print the plain start and end lines even when nothing periodic was printed. */
  announce?: boolean;
  intervalS?: number;
  stream?: NodeJS.WriteStream;
  /** No output at all (--quiet). */
  quiet?: boolean;
}

export function makeProgress(o: ProgressOptions): Progress {
  if (o.quiet) return { update: () => {}, stop: () => {} };
  const stream = o.stream ?? process.stderr;
  if (stream.isTTY && !process.env.CI) return barProgress(o, stream);
  return lineProgress(o, stream);
}

function barProgress(o: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `{bar} ${o.unit === '%' ? '' : `{value}/{total} ${o.unit} | `}{percentage}% | {duration_formatted} elapsed | ETA {eta_formatted} | {label}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(o.total, o.start ?? 0, { label: '' });
  return {
    update: (done, label = '') => bar.update(done, { label: label.slice(0, 40) }),
    stop: () => bar.stop(),
  };
}

function lineProgress(o: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const t0 = performance.now();
  const start = o.start ?? 0;
  const interval = (o.intervalS ?? 5) * 1000;
  let last = t0;
  let printed = false;
  /** `done` as of the last line printed (a final line repeating it would say nothing new). */
  let donePrinted: number | undefined;
  let done = start;
  /** What the last update named (a point started or finished, a case, a probe): shown when nothing moved since. */
  let label = '';
  /**
   * When the first points finished: the rate is measured from there. The time before them is
   * start-up (a large sweep's workers receive every task first) and says nothing about the rate:
   * counted in, one point after 18 s of start-up made a 1,000,000-point sweep's ETA 5000 hours.
   */
  let first: { at: number; done: number } | undefined;
  const line = (waiting = false) => {
    const now = performance.now();
    const elapsedS = (now - t0) / 1000;
    const rate = first && done > first.done ? (done - first.done) / Math.max((now - first.at) / 1000, 1e-9) : undefined;
    const eta = rate && done < o.total ? `, ETA ${formatSeconds((o.total - done) / rate)}` : '';
    const pct = o.total > 0 ? Math.floor((100 * done) / o.total) : 100;
    const still = waiting && label ? ` (last: ${label})` : '';
    const count = o.unit === '%' ? `${pct}%` : `${done}/${o.total} ${o.unit} (${pct}%)`;
    stream.write(`progress: ${count}, ${formatSeconds(elapsedS)} elapsed${eta}${still}\n`);
    printed = true;
    donePrinted = done;
    last = now;
  };
  if (o.announce) line();
  // A long point (the serving headline of `silica validate`, a big serve run) updates nothing for
  // tens of seconds: while the thread is free (the work is on worker threads) a log still hears
  // from the run every interval, with what was reported last (validate reports the point it
  // starts). Unref'd: it never keeps a run alive.
  const heartbeat = interval > 0 ? setInterval(() => performance.now() - last >= interval && line(done === (donePrinted ?? start)), interval) : undefined;
  heartbeat?.unref();
  return {
    update(n, what = '') {
      done = n;
      label = what;
      const now = performance.now();
      if (!first && n > start) first = { at: now, done: n };
      if (now - last >= interval) line();
    },
    stop() {
      if (heartbeat) clearInterval(heartbeat);
      if ((printed || o.announce) && donePrinted !== done) line();
    },
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - 60 * m)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
