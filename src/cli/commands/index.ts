import type { CommandModule } from 'yargs';
import { hwCommand } from './hw.js';
import { kernelCommand } from './kernel.js';
import { quickstartCommand } from './quickstart.js';
import { runCommand } from './run.js';
import { validateCommand } from './validate.js';

/** Every CLI command, registered once here; a new command is one file plus one line. */
export const commands: CommandModule[] = [
  quickstartCommand,
  runCommand,
  hwCommand,
  kernelCommand,
  validateCommand,
];
