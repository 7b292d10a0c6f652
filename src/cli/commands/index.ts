import type { CommandModule } from 'yargs';
import { collectiveCommand } from './collective.js';
import { bertCommand } from './bert.js';
import { hwCommand } from './hw.js';
import { kernelCommand } from './kernel.js';
import { quickstartCommand } from './quickstart.js';
import { serveCommand } from './serve.js';
import { runCommand } from './run.js';
import { sweepCommand } from './sweep.js';
import { mergeCommand } from './merge.js';
import { plotCommand } from './plot.js';
import { validateCommand } from './validate.js';
import { emitCommand } from './emit.js';
import { replayCommand } from './replay.js';
import { inspectCommand } from './inspect.js';
import { t3Command } from './t3.js';

/** Every CLI command, registered once here; a new command is one file plus one line. */
export const commands: CommandModule[] = [
  quickstartCommand,
  runCommand,
  sweepCommand,
  mergeCommand,
  plotCommand,
  hwCommand,
  kernelCommand,
  bertCommand,
  validateCommand,
  collectiveCommand,
  emitCommand,
  replayCommand,
  inspectCommand,
  serveCommand,
  t3Command,
];
