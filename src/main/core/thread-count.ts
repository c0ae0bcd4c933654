import { describeValue } from '../../shared/describe-value.js';
import { ErrorCode, RingwireRangeError } from '../../shared/errors.js';

/** Panda3D's numThreads argument (listener, reader, writer): throws a RangeError naming `what` unless `numThreads` is a whole number from 0 to 64. */
export function checkThreads(what: string, numThreads: unknown): void {
  if (typeof numThreads !== 'number' || !Number.isInteger(numThreads) || numThreads < 0 || numThreads > 64) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `${what}: numThreads must be an integer from 0 to 64, got ${describeValue(numThreads)}`,
    );
  }
}
