import { resolve } from 'node:path';

/**
 * Files a run reads as they were when it began. A sweep's point ids digest the files its points
 * read (src/sweep/inputs.ts); pinning them makes every point read that same text, so a file
 * edited while a long sweep runs changes the next run, never the later points of this one. The
 * loaders of text inputs (hardware YAML, request traces) ask here before they read the disk.
 */
export interface PinnedFile {
  text: string;
  /** The digest the run's ids hold for this file (a cached load is keyed by it). */
  digest: string;
}

let pins: ReadonlyMap<string, PinnedFile> | undefined;
let pinsGiven: Readonly<Record<string, PinnedFile>> | undefined;

/**
 * Until called again, the files named here (by path) are read from the text given. `undefined`
 * reads the disk again. Called with the same object (every task of a sweep carries one), it does
 * nothing.
 */
export function pinFiles(files: Readonly<Record<string, PinnedFile>> | undefined): void {
  if (files === pinsGiven) return;
  pinsGiven = files;
  pins = files && Object.keys(files).length ? new Map(Object.entries(files).map(([path, f]) => [resolve(path), f])) : undefined;
}

/**
 * Runs `run` with `files` pinned on this thread (and so on the workers of any pool it starts),
 * then reads the disk again, however `run` ends.
 */
export async function withPinnedFiles<T>(files: Readonly<Record<string, PinnedFile>> | undefined, run: () => Promise<T>): Promise<T> {
  pinFiles(files);
  try {
    return await run();
  } finally {
    pinFiles(undefined);
  }
}

/** The pinned text of a file, if the run pinned it. */
export function pinnedFile(path: string): PinnedFile | undefined {
  return pins ? pins.get(resolve(path)) : undefined;
}

/**
 * What this thread has pinned, as given: a worker pool started here hands it to its workers
 * (src/sweep/pool.ts), so every lane of a run reads the same text.
 */
export function currentPins(): Readonly<Record<string, PinnedFile>> | undefined {
  return pinsGiven;
}
