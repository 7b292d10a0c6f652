import type { CommandModule } from 'yargs';

/**
 * Every CLI command, by name, and how to load it; a new command is one file plus one line. A
 * command's module, and all it imports, loads only when that command runs (`silica hw list` does
 * not load the studies). Listed in the order `silica --help` shows them.
 */
export const commandLoaders: ReadonlyArray<readonly [name: string, load: () => Promise<CommandModule>]> = [
  ['quickstart', async () => (await import('./quickstart.js')).quickstartCommand],
  ['run', async () => (await import('./run.js')).runCommand],
  ['sweep', async () => (await import('./sweep.js')).sweepCommand],
  ['merge', async () => (await import('./merge.js')).mergeCommand],
  ['plot', async () => (await import('./plot.js')).plotCommand],
  ['hw', async () => (await import('./hw.js')).hwCommand],
  ['kernel', async () => (await import('./kernel.js')).kernelCommand],
  ['bert', async () => (await import('./bert.js')).bertCommand],
  ['validate', async () => (await import('./validate.js')).validateCommand],
  ['collective', async () => (await import('./collective.js')).collectiveCommand],
  ['emit', async () => (await import('./emit.js')).emitCommand],
  ['replay', async () => (await import('./replay.js')).replayCommand],
  ['inspect', async () => (await import('./inspect.js')).inspectCommand],
  ['serve', async () => (await import('./serve.js')).serveCommand],
  ['t3', async () => (await import('./t3.js')).t3Command],
];

/**
 * The commands an invocation needs: the one it names (the first argument that is not a flag), none
 * for `silica --version` alone (it prints the version before any command runs), or all of them when
 * it names none or an unknown one (for the full help and "did you mean").
 */
export async function commandsFor(argv: readonly string[]): Promise<CommandModule[]> {
  const name = argv.find((a) => !a.startsWith('-'));
  const named = commandLoaders.find(([n]) => n === name);
  if (named) return [await named[1]()];
  if (name === undefined && argv.includes('--version') && !argv.includes('--help')) return [];
  return Promise.all(commandLoaders.map(([, load]) => load()));
}
