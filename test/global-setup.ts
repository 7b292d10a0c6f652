import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temporary file of a test run goes under one folder made for the run: TMPDIR, which
 * os.tmpdir() in the test workers and in the CLI processes the tests start follows. The folder is
 * removed when the run ends, so the run leaves nothing in the system's temporary folder whatever
 * each test file cleans up itself (SILICA_KEEP_TEST_TMP=1 keeps it, to look at after a failure).
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'silica-test-run-'));
  process.env.TMPDIR = root;
  return () => {
    if (process.env.SILICA_KEEP_TEST_TMP) process.stderr.write(`test temporary files kept in ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
  };
}
