/** Importing this module registers every serving policy. A new policy is one file plus one line here. */
import './continuous.js';
import './hybrid.js';
import './rapid.js';
import './disagg.js';
