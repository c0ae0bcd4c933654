/** Below this many bytes a plain loop beats `set(subarray(...))`, which allocates a view. */
const LOOP_COPY_LIMIT = 64;

/**
 * Copies `src[srcStart, srcStart + length)` to `dst` at `dstStart`. Small copies run as a
 * loop so the hot path allocates nothing; larger ones use the engine's memcpy.
 */
export function copyBytes(dst: Uint8Array, dstStart: number, src: Uint8Array, srcStart: number, length: number): void {
  if (length <= LOOP_COPY_LIMIT) {
    for (let i = 0; i < length; i++) dst[dstStart + i] = src[srcStart + i];
  } else {
    dst.set(src.subarray(srcStart, srcStart + length), dstStart);
  }
}
