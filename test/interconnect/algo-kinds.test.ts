import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { busBwFactor, COLLECTIVE_ALGOS, COLLECTIVE_KINDS, startCollective } from '../../src/hw/collectives/index.js';
import { interconnectOf } from '../../src/hw/link/topology.js';
import { System } from '../../src/hw/system.js';

const MiB = 1024 ** 2;
const GPUS = 8;

/**
 * Every algorithm a caller may ask for, for every kind: it either plans that kind (the outcome
 * names it, and the links carry the kind's bytes, not another kind's) or is refused in one line
 * naming --algo. A new algorithm registered for all-reduce alone must not run its all-reduce plan
 * under an all-gather's name. MI300X is fully connected, so every transfer is one hop, and no
 * algorithm moves a kind's data with fewer link bytes than n x the nccl-tests bus factor x the
 * buffer (ring and two-shot direct move exactly that; a one-shot all-reduce would move more).
 */
describe('an asked-for algorithm runs only the kinds it plans', () => {
  for (const algo of COLLECTIVE_ALGOS.filter((a) => a !== 'auto')) {
    for (const kind of COLLECTIVE_KINDS) {
      it(`--algo ${algo} ${kind}`, () => {
        const system = new System(loadHardware('mi300x'), GPUS);
        const ranks = system.gpus.map((g) => g.index);
        const bytes = 8 * MiB;
        let ran: string | undefined;
        try {
          startCollective(system, { kind, bytes, ranks, algo }, (o) => (ran = o.algo));
        } catch (e) {
          expect(e).toBeInstanceOf(SilicaError);
          expect((e as Error).message).toMatch(new RegExp(`^--algo ${algo}: `));
          return;
        }
        system.sim.run();
        expect(ran).toBe(algo);
        if (kind === 'broadcast' || kind === 'send-recv') return;
        const sent = interconnectOf(system).allLinks().reduce((s, l) => s + l.sentBytes, 0);
        expect(sent).toBeGreaterThanOrEqual(GPUS * busBwFactor(kind, GPUS) * bytes * (1 - 1e-12));
      });
    }
  }
});
