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

/**
 * Copies `length` bytes from `src` at `srcStart` to `dst` at `dstStart`, four at a time
 * through the arrays' DataViews (`dstView` over `dst`'s bytes, `srcView` over `src`'s),
 * then the tail bytewise. For the short payloads of a send path: no view is allocated,
 * and it beats both a byte loop and `set(subarray())` below about 160 bytes.
 */
export function copyWords(
  dst: Uint8Array,
  dstView: DataView,
  dstStart: number,
  src: Uint8Array,
  srcView: DataView,
  srcStart: number,
  length: number,
): void {
  if (length > WORD_COPY_LIMIT) {
    dst.set(src.subarray(srcStart, srcStart + length), dstStart);
    return;
  }
  let i = 0;
  for (const words = length & ~3; i < words; i += 4) dstView.setUint32(dstStart + i, srcView.getUint32(srcStart + i, true), true);
  for (; i < length; i++) dst[dstStart + i] = src[srcStart + i];
}

/** Above this a word loop loses to the engine's memcpy, view allocation included. */
const WORD_COPY_LIMIT = 160;
