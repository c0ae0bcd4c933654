import { Packr, Unpackr, type Options } from 'msgpackr';

/**
 * msgpack options for `Datagram.addValue` / `DatagramIterator.getValue`.
 *
 * - `useRecords: false`, `moreTypes: false`: only standard msgpack types on the wire, so a
 *   peer written in any language (Python's `msgpack`, for one) can decode the values.
 * - `variableMapSize: true`: objects are written as fixmap/map16/map32 sized to their key
 *   count, the compact encoding other msgpack libraries produce, and objects with more
 *   than 65535 keys still encode.
 * - `int64AsType: 'bigint'`: msgpackr writes every JS number as int ≤ 32 bits or float64,
 *   and every bigint as int64/uint64, so decoding 64-bit ints as bigint gives each value
 *   back with its own type. A bigint outside the 64-bit range is refused (RangeError)
 *   rather than sent with msgpackr's private extension.
 * - `copyBuffers: true`: decoded binary values are copies, not views into the datagram,
 *   which is reused and overwritten by the next `getData`.
 */
const VALUE_CODEC_OPTIONS: Options = {
  useRecords: false,
  moreTypes: false,
  variableMapSize: true,
  int64AsType: 'bigint',
  copyBuffers: true,
};

/**
 * Encoder for `Datagram.addValue`. `pack` returns a view into the encoder's scratch buffer,
 * valid until its next call: copy it out straight away.
 */
export const valuePackr = new Packr(VALUE_CODEC_OPTIONS);

/** Decoder for `DatagramIterator.getValue`; maps decode to plain objects. */
export const valueUnpackr = new Unpackr(VALUE_CODEC_OPTIONS);
