import { describeValue } from '../shared/describe-value.js';
import { QueuedConnectionManager } from './queued-connection-manager.js';

/** Throws a TypeError naming `what` unless `manager` is a QueuedConnectionManager. */
export function checkManager(what: string, manager: unknown): void {
  if (!(manager instanceof QueuedConnectionManager)) {
    throw new TypeError(`${what}: expected a QueuedConnectionManager, got ${describeValue(manager)}`);
  }
}

/** Throws a RangeError naming `what` unless `numThreads` is a whole number from 0 to 64. */
export function checkThreads(what: string, numThreads: unknown): void {
  if (typeof numThreads !== 'number' || !Number.isInteger(numThreads) || numThreads < 0 || numThreads > 64) {
    throw new RangeError(`${what}: numThreads must be an integer from 0 to 64, got ${describeValue(numThreads)}`);
  }
}
