import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for silica's processes, set before any simulation runs (flags are process-wide:
 * worker threads started later share them).
 *
 * No allocation-site pretenuring. V8 watches where objects are allocated and, when most objects of
 * a site seem to survive a young-generation collection, allocates that site's objects in the old
 * generation from then on. A simulation allocates small objects by the million (a GPU's resources,
 * flows, events per kernel) that die within microseconds, yet the decision fires in some runs and
 * not in others, depending on when collections fall: measured on the 1024-point CPU-bound sweep
 * (bench/sweeps/cpu-bound.yaml, --jobs 1, 2-core VM), runs where it fired took 17-21 s of wall
 * time and 21-25 s of CPU (the old generation filled every half second, and V8's helper threads
 * spent 5-7 s marking and scavenging), runs where it did not took 14-16 s. Without it every run
 * takes the fast path: 14.0 and 15.2 s (CPU 14.6 and 15.6 s) against 19.2 and 20.8 s in the same
 * minutes. The study experiments (bert, t3, rapid-serve) run as fast either way.
 */
setFlagsFromString('--no-allocation-site-pretenuring');
