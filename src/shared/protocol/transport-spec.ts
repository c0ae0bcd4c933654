import { Packr } from 'msgpackr';

/**
 * How a TCP stream speaks above its socket, beyond Panda3D's framing: WebSocket (RFC 6455),
 * TLS, or both. The main thread describes it once per rendezvous (or per client open) and
 * every ADOPT record of such a stream carries the description after its fd and slot
 * (read-record.ts), so a shard, a replaced one included, needs nothing else to take the
 * socket over: it terminates TLS and speaks WebSocket itself, and the main thread sees
 * only datagrams. The description is msgpack; `key` lets a shard build a TLS context once
 * per description rather than once per connection.
 */
export interface TransportSpec {
  /** Identifies this description: a shard caches what it builds from it (a TLS context) by key. */
  key: string;
  /** 'server' for a stream a rendezvous accepted, 'client' for one openTCPClientConnection opened. */
  role: 'server' | 'client';
  websocket: WebSocketSpec | null;
  tls: TlsSpec | null;
  /** Most milliseconds the TLS handshake and the WebSocket upgrade may take together; past it the stream is reset 'handshake-failed'. */
  handshakeTimeoutMs: number;
}

export interface WebSocketSpec {
  /** Server: the only request path answered (404 otherwise), or null for any. Client: the path asked for. */
  path: string | null;
  /** Server: the Origin headers accepted (403 otherwise), or null for any. */
  origins: string[] | null;
  /** Largest message accepted, in bytes (also bounded by the reader's maxDatagramSize). */
  maxPayload: number;
  /** Client: the host of the Host header (an IPv6 address in brackets). */
  host: string | null;
  /** Client: the port of the Host header. */
  port: number;
  /** Client: the Origin header sent, or null for none. */
  origin: string | null;
}

export interface TlsSpec {
  /**
   * node:tls options as plain values (strings, Buffers, numbers, booleans, arrays of them):
   * createSecureContext's (key, cert, ca, pfx, passphrase, ciphers, minVersion, …) and the
   * socket's (requestCert, rejectUnauthorized, servername, ALPNProtocols).
   */
  options: Record<string, unknown>;
}

/** What a stream's outbound frames look like: the writer frames each datagram so on the main thread. */
export const Framing = {
  /** Panda3D's length header (the writer's header size). */
  PANDA: 0,
  /** A WebSocket binary message, unmasked (a server's frames). */
  WEBSOCKET_SERVER: 1,
  /** A WebSocket binary message, masked with a fresh key (a client's frames). */
  WEBSOCKET_CLIENT: 2,
} as const;
export type Framing = (typeof Framing)[keyof typeof Framing];

const codec = new Packr({ useRecords: false, moreTypes: false });

/** The bytes an ADOPT record carries after its fd and slot. */
export function encodeTransport(spec: TransportSpec): Uint8Array {
  return codec.pack(spec);
}

/** Reads what encodeTransport wrote at bytes[offset, offset + length). */
export function decodeTransport(bytes: Uint8Array, offset: number, length: number): TransportSpec {
  return codec.unpack(bytes.subarray(offset, offset + length)) as TransportSpec;
}
