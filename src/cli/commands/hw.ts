import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { listPresets, loadHardware } from '../../hw/config/load.js';
import { toYaml } from '../../core/yaml-config.js';
import { printJson } from '../common.js';

export const hwCommand: CommandModule = {
  command: 'hw <action> [name]',
  describe: 'list hardware presets or show one fully resolved',
  builder: (y) =>
    y
      .positional('action', { choices: ['list', 'show'] as const, describe: 'list | show' })
      .positional('name', { type: 'string', describe: 'preset name or YAML path (for show)' })
      .option('set', { type: 'string', array: true, describe: 'override a field, e.g. --set compute.cus=152' })
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' }),
  handler: (argv) => {
    const args = argv as unknown as { action: string; name?: string; set?: string[]; json: boolean };
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
    const hw = loadHardware(args.name ?? 'mi300x', args.set ?? []);
    if (args.json) printJson(hw);
    else process.stdout.write(toYaml(hw));
  },
};
