import { move, transferableSymbol, valueSymbol } from 'piscina';
import { runSweepPointTask, type SweepPointOutcome, type SweepPointTask } from './point-task.js';

/**
 * Piscina worker entry: each task is one sweep point. Its serialised rows go back to the writing
 * thread by transfer (the buffers change owner; nothing is copied), see PointTable.
 */
export default async function runSweepPointInWorker(task: SweepPointTask): Promise<SweepPointOutcome> {
  const outcome = await runSweepPointTask(task);
  if (!outcome.ok) return outcome;
  const buffers = [outcome.table.jsonl.buffer, outcome.table.csv.buffer];
  return move({ [transferableSymbol]: buffers, [valueSymbol]: outcome }) as unknown as SweepPointOutcome;
}
