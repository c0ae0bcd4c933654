import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { describeValue } from '../../shared/describe-value.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';
import { encodeTransport, type TlsSpec, type TransportSpec, type WebSocketSpec } from '../../shared/protocol/transport-spec.js';

/** A WebSocket rendezvous: what its upgrade requests must look like. */
export interface WebSocketServerOptions {
  /** The only request path answered ('/game'; the query is ignored); another gets 404. Default: any. */
  path?: string;
  /** The Origin headers accepted ('https://example.com'); a request with another, or none, gets 403. Default: any. */
  origins?: readonly string[];
  /** Largest message accepted, in bytes (the reader's maxDatagramSize bounds it too); a larger one closes with 1009. */
  maxPayload?: number;
}

/** A WebSocket client stream: its upgrade request. */
export interface WebSocketClientOptions {
  /** The request path (default '/'). */
  path?: string;
  /** The Origin header to send (default: none). */
  origin?: string;
}

/**
 * TLS on a rendezvous: node:tls's secure context options (key and cert, or pfx, are
 * needed; ca, passphrase, ciphers, minVersion, … as node:tls takes them), as plain values:
 * strings and Buffers, not functions (the shards build the context from a copy).
 */
export interface TlsServerOptions extends SecureContextOptions {
  /** Ask clients for a certificate (default false); with rejectUnauthorized, one that does not verify fails the handshake. */
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[];
}

/** TLS on a client stream: node:tls's options (ca to trust a private CA, servername for SNI and the name checked). */
export interface TlsClientOptions extends SecureContextOptions {
  /** The name sent for SNI and checked against the server's certificate (default: the host, unless it is an IP address). */
  servername?: string;
  /** Verify the server's certificate (default true). */
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[];
}

/** openTCPServerRendezvous's options: the streams it accepts speak WebSocket, TLS, or both (wss). */
export interface RendezvousOptions {
  /** Accept WebSocket clients: each binary (or text) message is one datagram, and each datagram sent is one binary message. */
  websocket?: boolean | WebSocketServerOptions;
  /** Terminate TLS in the shards (Panda-framed TCP over TLS, or wss:// with `websocket`). */
  tls?: TlsServerOptions;
  /** Most milliseconds the TLS handshake and the WebSocket upgrade may take; then the stream is reset 'handshake-failed'. Default 10000. */
  handshakeTimeoutMs?: number;
}

/** openTCPClientConnection's and connectTCP's options: speak WebSocket, TLS, or both to the server. */
export interface ClientConnectionOptions {
  websocket?: boolean | WebSocketClientOptions;
  tls?: TlsClientOptions;
  /** As for a rendezvous. Default 10000. */
  handshakeTimeoutMs?: number;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Socket options that are not secure context options but go to the TLS socket. */
const SOCKET_TLS_OPTIONS = new Set(['requestCert', 'rejectUnauthorized', 'servername', 'ALPNProtocols', 'host']);

let nextKey = 1;

/** The rendezvous's transport, encoded for its streams' ADOPT records, or null for plain Panda TCP. Throws for bad options. */
export function rendezvousTransport(what: string, options: RendezvousOptions | undefined): { spec: TransportSpec; bytes: Uint8Array } | null {
  if (options === undefined) return null;
  checkObject(what, 'options', options);
  checkKeys(what, 'options', options, ['websocket', 'tls', 'handshakeTimeoutMs']);
  const websocket = serverWebSocket(what, options.websocket);
  const tls = options.tls === undefined ? null : tlsSpec(what, options.tls, true);
  if (websocket === null && tls === null) return null;
  const spec: TransportSpec = { key: `r${nextKey++}`, role: 'server', websocket, tls, handshakeTimeoutMs: timeout(what, options.handshakeTimeoutMs) };
  return { spec, bytes: encodeTransport(spec) };
}

/** A rendezvous's transport with new TLS options (setSecureContext): a new key, so the shards build a new context. */
export function withTls(what: string, spec: TransportSpec, tls: TlsServerOptions): { spec: TransportSpec; bytes: Uint8Array } {
  const next: TransportSpec = { ...spec, key: `r${nextKey++}`, tls: tlsSpec(what, tls, true) };
  return { spec: next, bytes: encodeTransport(next) };
}

/** A client stream's transport to `host`:`port`, or null for plain Panda TCP. Throws for bad options. */
export function clientTransport(what: string, options: ClientConnectionOptions | undefined, host: string, port: number): Uint8Array | null {
  if (options === undefined) return null;
  checkObject(what, 'options', options);
  checkKeys(what, 'options', options, ['websocket', 'tls', 'handshakeTimeoutMs']);
  let websocket: WebSocketSpec | null = null;
  const ws = options.websocket;
  if (ws !== undefined && ws !== false) {
    const given: WebSocketClientOptions = ws === true ? {} : ws;
    checkObject(what, 'options.websocket', given);
    checkKeys(what, 'options.websocket', given, ['path', 'origin']);
    const path = given.path ?? '/';
    if (typeof path !== 'string' || !path.startsWith('/')) throw invalid(what, 'options.websocket.path', 'a path that starts with /', path);
    if (given.origin !== undefined && typeof given.origin !== 'string') throw invalid(what, 'options.websocket.origin', 'a string', given.origin);
    websocket = { path, origins: null, maxPayload: 0, host: host.includes(':') ? `[${host}]` : host, port, origin: given.origin ?? null };
  }
  let tls: TlsSpec | null = null;
  if (options.tls !== undefined) {
    tls = tlsSpec(what, options.tls, false);
    // The name the server's certificate is checked against: SNI's for a host name, the address itself for an IP.
    if (tls.options.servername === undefined) {
      if (/^[\d.]+$|:/.test(host)) tls.options.host = host;
      else tls.options.servername = host;
    }
  }
  if (websocket === null && tls === null) return null;
  const key = tls === null ? 'c' : clientKey(options.tls as object);
  return encodeTransport({ key, role: 'client', websocket, tls, handshakeTimeoutMs: timeout(what, options.handshakeTimeoutMs) });
}

/** One key per client TLS options object: bots that share one object share one context in each shard. */
const clientKeys = new WeakMap<object, string>();
function clientKey(options: object): string {
  let key = clientKeys.get(options);
  if (key === undefined) clientKeys.set(options, (key = `c${nextKey++}`));
  return key;
}

function serverWebSocket(what: string, ws: boolean | WebSocketServerOptions | undefined): WebSocketSpec | null {
  if (ws === undefined || ws === false) return null;
  if (ws !== true) {
    checkObject(what, 'options.websocket', ws);
    checkKeys(what, 'options.websocket', ws, ['path', 'origins', 'maxPayload']);
  }
  const given: WebSocketServerOptions = ws === true ? {} : ws;
  if (given.path !== undefined && (typeof given.path !== 'string' || !given.path.startsWith('/'))) {
    throw invalid(what, 'options.websocket.path', 'a path that starts with /', given.path);
  }
  if (given.origins !== undefined && (!Array.isArray(given.origins) || given.origins.some((origin) => typeof origin !== 'string'))) {
    throw invalid(what, 'options.websocket.origins', 'an array of strings', given.origins);
  }
  const maxPayload = given.maxPayload ?? 0;
  if (!Number.isInteger(maxPayload) || maxPayload < 0) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `${what}: options.websocket.maxPayload must be a non-negative integer (0: the reader's limit), got ${describeValue(maxPayload)}`,
    );
  }
  return {
    path: given.path ?? null,
    origins: given.origins === undefined ? null : [...given.origins],
    maxPayload,
    host: null,
    port: 0,
    origin: null,
  };
}

/** The TLS options as plain values, checked by building a context here once (so a bad key or certificate fails the open call, not every handshake). */
function tlsSpec(what: string, tls: TlsServerOptions | TlsClientOptions, server: boolean): TlsSpec {
  checkObject(what, 'options.tls', tls);
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(tls)) {
    if (value === undefined) continue;
    if (!isPlain(value)) throw invalid(what, `options.tls.${name}`, 'strings, Buffers, numbers or booleans (shards get a copy: no functions)', value);
    options[name] = value;
  }
  if (server && options.key === undefined && options.pfx === undefined) {
    throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: options.tls needs key and cert (or pfx) for a server`);
  }
  const context: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) if (!SOCKET_TLS_OPTIONS.has(name)) context[name] = value;
  try {
    createSecureContext(context as SecureContextOptions);
  } catch (error) {
    throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: options.tls: ${(error as Error).message}`, { cause: error });
  }
  return { options };
}

function isPlain(value: unknown): boolean {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.every(isPlain);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).every(isPlain);
  return false;
}

function timeout(what: string, ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isInteger(ms) || ms < 1) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `${what}: options.handshakeTimeoutMs must be a positive integer, got ${describeValue(ms)}`,
    );
  }
  return ms;
}

function checkObject(what: string, name: string, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(what, name, 'an object', value);
}

function checkKeys(what: string, name: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: ${name} has no option ${JSON.stringify(key)} (known: ${known.join(', ')})`);
  }
}

function invalid(what: string, name: string, expected: string, got: unknown): RingwireTypeError {
  return new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: ${name} must be ${expected}, got ${describeValue(got)}`);
}
