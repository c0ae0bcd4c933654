/**
 * Every error ringwire throws or reports (getLastError()) carries a stable `code`, as
 * undici's and Node's own errors do: match on `error.code`, never on the message, which
 * may be reworded. Misuse by the caller stays a TypeError (wrong type, no such overload) or
 * a RangeError (out of range), subclasses that add the code; a state that forbids the call
 * is a RingwireError. Errors of the operating system (EADDRINUSE, ECONNREFUSED, ENOTFOUND…)
 * are reported as Node gives them, with Node's code. The README lists the codes.
 */
export const ErrorCode = {
  /** An argument of the wrong type, or arguments that match no overload (TypeError). */
  INVALID_ARG_TYPE: 'RINGWIRE_INVALID_ARG_TYPE',
  /** An argument of the right type out of its range (RangeError). */
  INVALID_ARG_VALUE: 'RINGWIRE_INVALID_ARG_VALUE',
  /** An option (of a QueuedConnectionManager, a rendezvous or a client open: websocket, tls) that is unknown, of the wrong type, out of range, or a key or certificate that does not load (TypeError or RangeError). */
  INVALID_OPTION: 'RINGWIRE_INVALID_OPTION',
  /**
   * A datagram larger than what carries it allows: its length header, one UDP packet, the
   * writer's UDP limit, sendBacklogHardLimit, DATAGRAM_MAX_SIZE, a u16 length (RangeError).
   */
  DATAGRAM_TOO_LARGE: 'RINGWIRE_DATAGRAM_TOO_LARGE',
  /** A DatagramIterator read past the end of its datagram (RangeError). */
  READ_PAST_END: 'RINGWIRE_READ_PAST_END',
  /** A value addValue cannot encode, or bytes getValue cannot decode as one msgpack value (TypeError or RangeError). */
  BAD_VALUE: 'RINGWIRE_BAD_VALUE',
  /** A call for another kind of connection: a TCP option on UDP, an address on a TCP send, a UDP recipient of a TCP broadcast. */
  WRONG_CONNECTION_KIND: 'RINGWIRE_WRONG_CONNECTION_KIND',
  /** A connection of another QueuedConnectionManager given to a listener or reader. */
  FOREIGN_CONNECTION: 'RINGWIRE_FOREIGN_CONNECTION',
  /** A call on a manager after close(); also getLastError() of an open that close() ended. */
  MANAGER_CLOSED: 'RINGWIRE_MANAGER_CLOSED',
  /** send or broadcast after ConnectionWriter.shutdown(). */
  WRITER_SHUT_DOWN: 'RINGWIRE_WRITER_SHUT_DOWN',
  /** A second QueuedConnectionReader for one manager. */
  READER_EXISTS: 'RINGWIRE_READER_EXISTS',
  /** A ChannelBus call after close(). */
  BUS_CLOSED: 'RINGWIRE_BUS_CLOSED',
  /** TaskManager.run while it runs, or step/run from inside a task. */
  TASK_MANAGER_BUSY: 'RINGWIRE_TASK_MANAGER_BUSY',
  /** A task threw null or undefined: run() rejects with this instead. */
  TASK_FAILED: 'RINGWIRE_TASK_FAILED',
  /** reusePort on a platform other than Linux. */
  UNSUPPORTED_PLATFORM: 'RINGWIRE_UNSUPPORTED_PLATFORM',
  /** The native fd helper is needed (reusePort before Node 22.12, a hand-over) and not built. */
  FD_HELPER_MISSING: 'RINGWIRE_FD_HELPER_MISSING',
  /** The compiled shard worker (dist/workers/shard-worker.js) is missing: run `npm run build`. */
  WORKER_MISSING: 'RINGWIRE_WORKER_MISSING',
  /** getLastError(): openTCPClientConnection's timeoutMs passed first. */
  CONNECT_TIMEOUT: 'RINGWIRE_CONNECT_TIMEOUT',
  /** getLastError(): every shard has failed and waits to be replaced; nothing can take a socket. */
  NO_SHARD: 'RINGWIRE_NO_SHARD',
  /** getLastError(): every shard holds as many TCP streams as its send-backlog table has slots. */
  SHARDS_FULL: 'RINGWIRE_SHARDS_FULL',
  /** getLastError(): a worker shard died (it is replaced; its connections were reset 'error'); the cause is what killed it. */
  SHARD_FAILED: 'RINGWIRE_SHARD_FAILED',
  /** The warning (process.emitWarning) when worker shards were asked for and cannot run. */
  SINGLE_THREAD: 'RINGWIRE_SINGLE_THREAD',
} as const;

/** One of ringwire's error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error of state (the call cannot be made now), or one reported by getLastError(). */
export class RingwireError extends Error {
  /** Stable: match on it, not on the message. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Misuse: an argument of the wrong type, or no overload that matches. */
export class RingwireTypeError extends TypeError {
  /** Stable: match on it, not on the message. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Misuse: an argument out of its range, or a datagram too large for what carries it. */
export class RingwireRangeError extends RangeError {
  /** Stable: match on it, not on the message. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
