import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica } from '../helpers/cli.js';

/**
 * Numeric flags are read as text and checked by the command (so an error can echo what was typed),
 * yet the help labels them [number] (see numberFlag in src/cli/common.ts). Both halves depend on
 * how yargs treats a flag declared as a string and a number at once; a yargs upgrade that changed
 * it would fail here.
 */
const NUMERIC: Array<[string[], string[]]> = [
  [['kernel', 'gemm'], ['-m', '-n', '-k', '--batch', '--cus']],
  [['bert'], ['--seq', '--batch', '--micro-batches', '--dp', '--steps']],
  [['emit'], ['--batch', '--seq', '--micro-batches', '--tp', '--dp']],
  [['collective', 'all-reduce'], ['--gpus', '--cus', '--src', '--dst', '--chunks']],
  [['replay'], ['--gpus']],
  [['run'], ['--jobs']],
  [['sweep'], ['--jobs', '--shards', '--max-parallel']],
  [['t3'], ['--tp', '--tokens', '--cu-split-cus']],
  [['serve'], ['--gpus', '--tp', '--rate', '--requests', '--seed', '--chunk']],
];

/** The help entry of `flag`: its name in the left column, its labels at the end (a long entry wraps onto lines that name no flag). */
function helpLine(help: string, flag: string): string {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\s+${flag}\\s`).test(l));
  if (start < 0) throw new Error(`no help line for ${flag} in:\n${help}`);
  let end = start + 1;
  while (end < lines.length && /^\s{8,}\S/.test(lines[end]!)) end++;
  return lines.slice(start, end).join(' ').replace(/\s+/g, ' ');
}

describe('--help labels numeric flags [number]', () => {
  for (const [command, flags] of NUMERIC) {
    it(`silica ${command.join(' ')}`, () => {
      const r = silica([...command, '--help']);
      expect(r.code).toBe(0);
      for (const flag of flags) {
        const line = helpLine(r.stdout, flag);
        expect(line, flag).toMatch(/\[number\]/);
        expect(line, flag).not.toMatch(/\[string\]/);
      }
    });
  }

  it('defaults show as numbers, text flags stay [string]', () => {
    const help = silica(['bert', '--help']).stdout;
    expect(helpLine(help, '--seq')).toMatch(/\[number\] \[default: 128\]$/);
    expect(helpLine(help, '--model')).toMatch(/\[string\] \[default: "bert-large"\]$/);
  });
});

describe('what was typed reaches the check as typed', () => {
  it('a value that is not a number is echoed, not turned into NaN', () => {
    expectOneLineError(silica(['kernel', 'gemm', '-m', '8x', '-n', '64', '-k', '64']), /^silica: -m: expected a positive whole number, got "8x"$/);
    expectOneLineError(silica(['serve', '--rate', 'fast']), /--rate: expected a finite number, got "fast"$/);
    expectOneLineError(silica(['bert', '--seq', '12.5']), /--seq: expected a positive whole number, got "12\.5"$/);
  });

  it('a number with leading zeros is read as the number it spells', () => {
    const r = silica(['kernel', 'gemm', '-m', '0064', '-n', '64', '-k', '64', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ m: 64 });
  });
});

describe('help lists what is registered', () => {
  it("silica --help's serve entry names every registered serving policy (a new one is one file and an import)", async () => {
    const { policyNames } = await import('../../src/sw/serving/index.js');
    await import('../../src/sw/serving/policies/index.js');
    const help = silica(['--help']).stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`silica serve simulate LLM serving (${policyNames().join(' | ')}) on a node`);
  });

  it("silica run's entry names every registered experiment kind (a new study is one file and an import)", async () => {
    const { experimentKinds } = await import('../../src/study/index.js');
    const help = silica(['--help']).stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`run an experiment YAML (kind: ${experimentKinds().join(' | ')})`);
  });

  it('--model names every zoo model in each command that takes one (a new model is an entry in zoo.ts)', async () => {
    const { listModels } = await import('../../src/sw/models/index.js');
    for (const command of ['emit', 'serve', 't3', 'bert']) {
      const help = silica([command, '--help']).stdout.replace(/\s+/g, ' ');
      expect(help, command).toContain(`${listModels().join(' | ')} [string]`);
    }
  });
});
