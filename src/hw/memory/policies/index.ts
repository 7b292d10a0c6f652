/** Importing this module registers every arbitration policy. A new policy is one file plus one line here. */
import './fair.js';
import './mca.js';
import './mca-adaptive.js';
