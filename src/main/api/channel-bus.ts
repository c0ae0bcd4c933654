import { randomBytes } from 'node:crypto';
import { describeValue } from '../../shared/describe-value.js';
import { Datagram } from '../../shared/datagram.js';
import { Connection } from './connection.js';
import { ConnectionGroup } from './connection-group.js';
import { ConnectionWriter } from './connection-writer.js';
import { ErrorCode, RingwireError, RingwireTypeError } from '../../shared/errors.js';

/** One message as the bus reads it from NATS (nats.js's Msg has this and more). */
export interface BusMessage {
  readonly data: Uint8Array;
}

/** A NATS subscription as the bus uses it. */
export interface BusSubscription {
  unsubscribe(): void;
}

/**
 * The part of a nats.js connection the bus uses (`@nats-io/transport-node`'s `connect()`
 * gives one; so does the older `nats` package). ringwire does not depend on nats.js: the
 * program connects, with the servers, credentials and reconnect policy it wants, and
 * hands the connection over.
 */
export interface BusConnection {
  publish(subject: string, payload?: Uint8Array): void;
  subscribe(subject: string, options?: { callback?: (error: Error | null, message: BusMessage) => void }): BusSubscription;
}

export interface ChannelBusOptions {
  /** A connected nats.js connection (it stays the program's to drain and close). */
  nats: BusConnection;
  /** The writer local subscribers are sent to (fan-out through writer.broadcast). */
  writer: ConnectionWriter;
  /** Subject prefix: channel `room.7` travels as `<prefix>.room.7`. Default 'ringwire'. */
  prefix?: string;
}

/** One channel in this process: its local subscribers and its one NATS subscription. */
interface Channel {
  readonly group: ConnectionGroup;
  subscription: BusSubscription | null;
}

/** Bytes of the publisher's id at the front of every message on NATS. */
const ORIGIN_SIZE = 8;

/** Channel names: NATS subject tokens (no spaces or wildcards), dot-separated. */
const CHANNEL_NAME = /^[A-Za-z0-9_\-:]+(\.[A-Za-z0-9_\-:]+)*$/;

/**
 * Channels that span processes and machines, over NATS (ringwire's extension). A datagram
 * published on a channel in any process reaches every connection subscribed to that
 * channel in every process: the publisher's own subscribers at once, through
 * `writer.broadcast`, and every other process's through one NATS subject per channel,
 * where that process fans it out the same way. A process holds one NATS subscription per
 * channel it has subscribers for, however many they are, and drops it when the last one
 * leaves; a connection leaves its channels when it closes.
 *
 * Delivery is core NATS's: at most once, and in publish order per publisher (two
 * publishers' datagrams may interleave differently in different processes). While the
 * NATS connection is down, local subscribers still get local publishes; what goes to
 * other processes meanwhile may be buffered by nats.js and sent on reconnect, reaching
 * only the processes subscribed again by then: count it lost. On reconnect nats.js
 * subscribes again by itself.
 */
export class ChannelBus {
  private readonly nats: BusConnection;
  private readonly writer: ConnectionWriter;
  private readonly prefix: string;
  private readonly channels = new Map<string, Channel>();
  /** This bus's id: messages that carry it came back from NATS and were delivered already. */
  private readonly origin = randomBytes(ORIGIN_SIZE);
  /** The reused datagram remote messages are fanned out from. */
  private readonly incoming = new Datagram();
  private closed = false;
  private published = 0;
  private received = 0;
  private failed = 0;
  private lastError: Error | null = null;

  constructor(options: ChannelBusOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ChannelBus: options must be an object, got ${describeValue(options)}`);
    }
    const { nats, writer, prefix = 'ringwire' } = options;
    if (typeof nats !== 'object' || nats === null || typeof nats.publish !== 'function' || typeof nats.subscribe !== 'function') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `ChannelBus: options.nats must be a nats.js connection (publish and subscribe), got ${describeValue(nats)}`,
      );
    }
    if (!(writer instanceof ConnectionWriter)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ChannelBus: options.writer must be a ConnectionWriter, got ${describeValue(writer)}`);
    }
    if (typeof prefix !== 'string' || !CHANNEL_NAME.test(prefix)) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `ChannelBus: options.prefix must be a NATS subject prefix such as "ringwire", got ${describeValue(prefix)}`,
      );
    }
    this.nats = nats;
    this.writer = writer;
    this.prefix = prefix;
  }

  /**
   * Subscribes `conn` (a TCP connection) to `channel`. Returns false when it is subscribed
   * already or is not open. The first local subscriber of a channel subscribes this
   * process on NATS. Throws a TypeError for a connection that is not a TCP stream, and
   * what NATS throws when it refuses; either way nothing changes.
   */
  subscribe(channel: string, conn: Connection): boolean {
    this.assertOpen('subscribe');
    checkChannel('subscribe', channel);
    if (!(conn instanceof Connection))
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ChannelBus.subscribe: expected a Connection, got ${describeValue(conn)}`);
    const known = this.channels.get(channel);
    const state: Channel = known ?? { group: new ConnectionGroup(), subscription: null };
    // The group checks the connection (a TCP stream) and throws before a new channel is
    // recorded: a refused subscribe leaves no empty channel behind.
    if (!state.group.add(conn)) return false;
    if (known === undefined) {
      state.group._onEmpty = () => this.forgetIfEmpty(channel, state);
      this.channels.set(channel, state);
    }
    if (state.subscription === null) {
      try {
        state.subscription = this.nats.subscribe(`${this.prefix}.${channel}`, {
          callback: (error, message) => {
            if (error === null) this.deliver(channel, message.data);
          },
        });
      } catch (error) {
        // NATS refused (closed, draining, a bad subject): nothing is left half set up.
        state.group.remove(conn);
        this.forgetIfEmpty(channel, state);
        throw error;
      }
    }
    return true;
  }

  /** Unsubscribes `conn` from `channel`. Returns false when it was not subscribed. */
  unsubscribe(channel: string, conn: Connection): boolean {
    const state = this.channels.get(channel);
    if (state === undefined || !state.group.remove(conn)) return false;
    this.forgetIfEmpty(channel, state);
    return true;
  }

  /**
   * Publishes `dg` on `channel`: every subscriber in this process gets it now, in order with
   * its other sends, and every other process's subscribers through NATS. Returns how many
   * local subscribers it was queued for.
   */
  publish(channel: string, dg: Datagram): number {
    this.assertOpen('publish');
    checkChannel('publish', channel);
    if (!(dg instanceof Datagram))
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ChannelBus.publish: expected a Datagram, got ${describeValue(dg)}`);
    // Local subscribers first: a datagram the writer refuses (too large) throws before
    // anything is sent anywhere, and a NATS failure cannot keep it from them.
    const state = this.channels.get(channel);
    const local = state === undefined || state.group.size === 0 ? 0 : this.writer.broadcast(dg, state.group);
    // A message of its own: nats.js keeps the payload it is given until it flushes.
    const message = new Uint8Array(ORIGIN_SIZE + dg.getLength());
    message.set(this.origin, 0);
    message.set(dg.getMessageView(), ORIGIN_SIZE);
    try {
      this.nats.publish(`${this.prefix}.${channel}`, message);
      this.published++;
    } catch (error) {
      // Closed, or over the server's max_payload: it reached this process's subscribers only.
      this.failed++;
      this.lastError = error as Error;
    }
    return local;
  }

  /** Why the last publish did not reach NATS (it reached the local subscribers only), or null. */
  getLastError(): Error | null {
    return this.lastError;
  }

  /** Local subscribers of `channel`. */
  getSubscriberCount(channel: string): number {
    return this.channels.get(channel)?.group.size ?? 0;
  }

  /** The channels this process is subscribed to on NATS (those with local subscribers). */
  getChannels(): string[] {
    return [...this.channels.keys()];
  }

  /**
   * Datagrams published here (on NATS), received from other processes, and not carried:
   * publishes NATS refused, and received datagrams this process's writer could not send
   * (over its limits, or shut down).
   */
  getCounts(): { published: number; received: number; failed: number } {
    return { published: this.published, received: this.received, failed: this.failed };
  }

  /** Drops every NATS subscription and every channel. The NATS connection stays open (it is the program's). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.channels.values()) {
      state.subscription?.unsubscribe();
      state.group._onEmpty = null;
      state.group.clear();
    }
    this.channels.clear();
  }

  /** A message from NATS: fan it out to this process's subscribers, unless it is our own. */
  private deliver(channel: string, data: Uint8Array): void {
    if (this.closed || data.length < ORIGIN_SIZE) return;
    if (this.origin.compare(data, 0, ORIGIN_SIZE) === 0) return; // ours: delivered locally when published
    const state = this.channels.get(channel);
    if (state === undefined || state.group.size === 0) return;
    this.received++;
    this.incoming.assign(data, ORIGIN_SIZE, data.length - ORIGIN_SIZE);
    // Inside nats.js's callback: an error thrown here would end its read loop, and with it
    // every delivery to this process.
    try {
      this.writer.broadcast(this.incoming, state.group);
    } catch (error) {
      this.failed++;
      this.lastError = error as Error;
    }
  }

  private forgetIfEmpty(channel: string, state: Channel): void {
    if (state.group.size > 0 || this.channels.get(channel) !== state) return;
    this.channels.delete(channel);
    state.group._onEmpty = null;
    state.subscription?.unsubscribe();
    state.subscription = null;
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new RingwireError(ErrorCode.BUS_CLOSED, `ChannelBus.${what}: the bus is closed`);
  }
}

function checkChannel(what: string, channel: unknown): asserts channel is string {
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) {
    throw new RingwireTypeError(
      ErrorCode.INVALID_ARG_TYPE,
      `ChannelBus.${what}: a channel is a NATS subject such as "room.7" (letters, digits, _ - :, dot-separated), got ${describeValue(channel)}`,
    );
  }
}
