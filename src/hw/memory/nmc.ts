import { SilicaError } from '../../core/errors.js';
import type { FlowDemand } from '../../core/flow-network.js';
import type { HardwareConfig } from '../config/schema.js';
import type { Gpu } from '../gpu/gpu.js';

/**
 * Near-memory compute (NMC) in HBM: an *update* is an atomic op-and-store applied beside the banks
 * (T3's reduction, mission.md §2). It moves the payload over the channel once, like a write, but the
 * bank reads the old row, adds and writes it back, so it holds the channel/bank for
 * `memory.nmc.update_cost_factor` bytes of DRAM time per byte. It costs no CU time and no transfer
 * to the CUs: that is the whole point (no CU reads, adds and writes the partial sums).
 *
 * Data-movement accounting counts an update as `bytes` written (what crosses the channel), and its
 * extra bank time only in time; this is why T3's reduce-scatter *reads* drop ~2.4x (mission.md §2):
 * the CU ring reads the staged partial and the local block per step, NMC reads neither.
 */
export function updateCostPerByte(hw: HardwareConfig): number {
  if (!hw.memory.nmc.enabled) throw new SilicaError(`${hw.name}: memory.nmc.enabled is false, but near-memory updates were requested (enable it or use a configuration without NMC)`);
  return hw.memory.nmc.update_cost_factor;
}

/** HBM demand of `bytesPerUnit` bytes updated per unit of a flow's progress on `gpu`. */
export function updateDemand(gpu: Gpu, bytesPerUnit: number): FlowDemand {
  return { resource: gpu.hbm, perUnit: bytesPerUnit * updateCostPerByte(gpu.hw) };
}

/** Counts DRAM traffic in the simulator's stats under the names every study sums. */
export function countHbm(gpu: Gpu, kind: 'read' | 'write' | 'update', bytes: number): void {
  if (bytes > 0) gpu.sim.stats.add(`gpu${gpu.index}.hbm.${kind}_bytes`, bytes);
}
