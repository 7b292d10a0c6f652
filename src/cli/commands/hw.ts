import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { configDifferences, type FieldDifference } from '../../hw/config/diff.js';
import { listPresets, loadHardware } from '../../hw/config/load.js';
import { toYaml } from '../../core/yaml-config.js';
import { printJson } from '../common.js';

export const hwCommand: CommandModule = {
  command: 'hw <action> [name] [other]',
  describe: 'list hardware presets, show one fully resolved, or diff two',
  builder: (y) =>
    y
      .positional('action', { choices: ['list', 'show', 'diff'] as const, describe: 'list | show | diff' })
      .positional('name', { type: 'string', describe: 'preset name or YAML path (for show and diff)' })
      .positional('other', { type: 'string', describe: 'diff: the second preset or YAML path (default: the first, with --set)' })
      .option('set', { type: 'string', array: true, describe: 'override a field, e.g. --set compute.cus=152 (diff: of the second)' })
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' }),
  handler: (argv) => {
    const args = argv as unknown as { action: string; name?: string; other?: string; set?: string[]; json: boolean };
    if (args.action === 'list') {
      if (args.name !== undefined) throw new SilicaError(`hw list: expected no preset name (it lists them all; hw show ${args.name} shows one), got "${args.name}"`);
      if (args.set?.length) throw new SilicaError('hw list: --set applies to hw show, not to the list');
      const presets = listPresets().map((name) => {
        const hw = loadHardware(name);
        return { name, description: hw.description };
      });
      if (args.json) printJson(presets);
      else for (const p of presets) process.stdout.write(`${p.name.padEnd(12)}  ${p.description}\n`);
      return;
    }
    if (args.action === 'diff') {
      if (args.name === undefined) throw new SilicaError('hw diff: expected two presets or YAML paths (hw diff mi300x my-gpu.yaml), or one and --set (hw diff mi300x --set compute.cus=320)');
      const other = args.other ?? args.name;
      const differences = configDifferences(loadHardware(args.name), loadHardware(other, args.set ?? []));
      if (args.json) printJson(differences);
      else if (differences.length === 0) process.stdout.write(`${args.name} and ${other}${args.set?.length ? ' with --set' : ''}: no field differs\n`);
      else printDifferences(differences, args.name, args.set?.length ? `${other} --set` : other);
      return;
    }
    if (args.other !== undefined) throw new SilicaError(`hw ${args.action}: expected one preset name, got a second ("${args.other}"; hw diff compares two)`);
    const hw = loadHardware(args.name ?? 'mi300x', args.set ?? []);
    if (args.json) printJson(hw);
    else process.stdout.write(toYaml(hw));
  },
};

/** One line a field: its name, then its value in each config (`-` where a config leaves it out). */
function printDifferences(differences: readonly FieldDifference[], a: string, b: string): void {
  const text = (v: unknown) => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));
  const rows = [['field', a, b], ...differences.map((d) => [d.field, text(d.a), text(d.b)])];
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) process.stdout.write(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}\n`);
}
