import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { statOrNothing } from '../core/io.js';
import type { PinnedFile } from '../core/pinned-files.js';
import { hardwareFiles } from '../hw/config/load.js';

/**
 * The files a sweep point reads, by content: a hardware YAML or a request trace that its config
 * names by path. A point's id hashes its config, which holds the path, not what the file says;
 * the digests go into the id too, so a file edited between two runs of one sweep (the shards of
 * a job array, a run and its --resume) changes the ids of the points that read it, and merge and
 * --resume refuse to mix results of the two versions. Preset names (`mi300x`) are not paths: a
 * string counts when it holds a slash or ends in a file extension and names a file, relative to
 * the experiment's folder as the kinds resolve it; a hardware YAML counts with the files its
 * `base:` chain names. Each file is read once per sweep, and the text of a hardware chain or a
 * request trace is kept (`pins`): the sweep's points read them as they were digested (pinFiles),
 * so a file edited while the sweep runs cannot give points results that their ids do not name.
 */
export class InputDigests {
  /** By the string as the config gives it: the digest, or null for a string that is no file. */
  private readonly byRef = new Map<string, string | null>();
  private readonly pinned: Record<string, PinnedFile> = {};

  /** `pinsOnly`: only the inputs that are pinned are read (`silica run` has no ids to digest others for). */
  constructor(
    private readonly baseDir: string,
    private readonly pinsOnly = false,
  ) {}

  /** The text inputs digested so far (hardware YAML, request traces), by absolute path; undefined when none. */
  pins(): Record<string, PinnedFile> | undefined {
    return Object.keys(this.pinned).length ? { ...this.pinned } : undefined;
  }

  /** The digests of the files `config` names, by the string naming each; undefined when none. */
  of(config: unknown): Record<string, string> | undefined {
    let found: Record<string, string> | undefined;
    const visit = (v: unknown): void => {
      if (typeof v === 'string') {
        const digest = this.digest(v);
        if (digest !== null) (found ??= {})[v] = digest;
      } else if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
    };
    visit(config);
    return found;
  }

  private digest(ref: string): string | null {
    let d = this.byRef.get(ref);
    if (d === undefined) {
      d = null;
      if (ref.includes('/') || /\.[A-Za-z][A-Za-z0-9]{0,7}$/.test(ref)) {
        const path = isAbsolute(ref) ? ref : join(this.baseDir, ref);
        const stat = statOrNothing(path);
        if (stat?.isFile()) {
          if (/\.ya?ml$/.test(path)) d = this.yamlDigest(path);
          else if (PINNED_TEXT.test(path) && stat.size <= PIN_MAX_BYTES) d = this.pinnedDigest(path);
          else if (!this.pinsOnly) d = fileDigest(path);
        }
      }
      this.byRef.set(ref, d);
    }
    return d;
  }

  /**
   * A YAML the config names is read as a hardware file (its `base:` chain included) where it is
   * one, and its chain's text pinned. Where the chain cannot be walked (a YAML of another kind whose
   * `base:` means something else, or names a file that is not there) the file's own bytes stand for
   * it: whatever reads the file as hardware reports the broken chain itself, with the point that
   * reads it, and a file read as something else must not stop the sweep.
   */
  private yamlDigest(path: string): string {
    let files: string[];
    try {
      files = hardwareFiles(path);
    } catch (err) {
      if (!(err instanceof SilicaError)) throw err;
      return fileDigest(path);
    }
    return chainDigest(files.map((f) => this.pinnedDigest(f)));
  }

  /** A text input's digest, its text kept for the points to read. */
  private pinnedDigest(path: string): string {
    const bytes = readBytes(path);
    const digest = bytesDigest(bytes);
    this.pinned[resolve(path)] = { text: bytes.toString('utf8'), digest };
    return digest;
  }
}

/**
 * The text inputs an experiment's config names (hardware YAML and its chain, request traces), as
 * they are now: `silica run` pins them for the whole run, so the cases its lanes run read one
 * version of each whatever is edited meanwhile. Undefined when it names none.
 */
export function inputPins(config: unknown, baseDir: string): Record<string, PinnedFile> | undefined {
  const inputs = new InputDigests(baseDir, true);
  inputs.of(config);
  return inputs.pins();
}

/**
 * A hardware YAML built on other files (`base: my-gpu.yaml`) says only what differs from them, so
 * its content is theirs too. A file on its own keeps its own bytes' digest (the ids of sweeps run
 * before bases could be files stay as they were).
 */
function chainDigest(digests: string[]): string {
  if (digests.length === 1) return digests[0]!;
  const hash = createHash('sha256');
  for (const d of digests) hash.update(`${d}\n`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * The inputs kept as text for the points (request traces; hardware YAML always): the loaders that
 * read these ask for pinned text first. A larger file, or another kind (a binary trace), is read
 * from the disk when a point runs, as before: its digest still names the version the ids hold.
 */
const PINNED_TEXT = /\.(csv|jsonl|ndjson)$/;
const PIN_MAX_BYTES = 64 * 1024 * 1024;

const cannotRead = (path: string, err: unknown) => new SilicaError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)}); a sweep reads the files its points name`, { file: path });

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
}

const bytesDigest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** SHA-256 of a file's bytes (16 hex digits), read a MiB at a time: a trace may be larger than one Buffer holds. */
function fileDigest(path: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1 << 20);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannotRead(path, err);
  }
  try {
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex').slice(0, 16);
}
