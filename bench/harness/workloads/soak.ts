import { runLatency } from './latency.js';

/**
 * soak: a long paced run with mixed payload sizes where every echo is verified: per
 * connection each sequence number must come back exactly once, in order, with its
 * checksum intact. It runs exactly as latency does (paced sends, then the grace period
 * for the last echoes); what makes it a soak is its settings (workload-settings.ts:
 * duration, payload range) and the integrity counts every paced run keeps, which must all
 * be zero against a correct server.
 */
export const runSoak = runLatency;
