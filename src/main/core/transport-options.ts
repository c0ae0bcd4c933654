import { createHash } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { describeValue } from '../../shared/describe-value.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';
import { encodeTransport, type TlsSpec, type TransportSpec, type WebSocketSpec } from '../../shared/protocol/transport-spec.js';
import { clientUpgradeRequest, makeClientKey } from '../../shared/websocket-handshake.js';

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
/** The longest a Node timer waits (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
    // The request is built in the shard: what it would refuse there (a path or origin that
    // is not visible ASCII, a host it cannot name) is refused here, at the open call.
    try {
      clientUpgradeRequest(host.includes(':') ? `[${host}]` : host, port, path, makeClientKey(), given.origin);
    } catch (error) {
      throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: options.websocket: ${(error as Error).message}`, { cause: error });
    }
    websocket = { path, origins: null, maxPayload: 0, host: host.includes(':') ? `[${host}]` : host, port, origin: given.origin ?? null };
  }
  let tls: TlsSpec | null = null;
  let key = 'c';
  if (options.tls !== undefined) {
    ({ tls, key } = clientTlsSpec(what, options.tls));
    // The name the server's certificate is checked against: SNI's for a host name, the address itself for an IP.
    if (tls.options.servername === undefined) {
      if (/^[\d.]+$|:/.test(host)) tls.options.host = host;
      else tls.options.servername = host;
    }
  }
  if (websocket === null && tls === null) return null;
  return encodeTransport({ key, role: 'client', websocket, tls, handshakeTimeoutMs: timeout(what, options.handshakeTimeoutMs) });
}

/** Content keys of client TLS options already checked (a context built from them once here), oldest first. */
const checkedClientKeys = new Set<string>();
const CHECKED_CLIENT_KEYS = 256;

/**
 * A client stream's TLS options, read now, and the key of their context: a hash of what the
 * context is built from, so every open with the same content (bots sharing one object, or
 * not) shares one context in each shard, and an object changed between two opens gets a
 * context of its changed content. Content already checked is not checked again: building a
 * context costs a fraction of a millisecond, on the main thread, per open.
 */
function clientTlsSpec(what: string, given: TlsClientOptions): { tls: TlsSpec; key: string } {
  const options = plainTls(what, given);
  const hash = createHash('sha256');
  for (const name of Object.keys(options).sort()) {
    if (SOCKET_TLS_OPTIONS.has(name)) continue;
    hash.update(name).update('\0');
    hashValue(hash, options[name]);
  }
  const key = `c:${hash.digest('hex').slice(0, 32)}`;
  if (!checkedClientKeys.has(key)) {
    checkContext(what, options);
    if (checkedClientKeys.size >= CHECKED_CLIENT_KEYS) checkedClientKeys.delete(checkedClientKeys.values().next().value!);
    checkedClientKeys.add(key);
  }
  return { tls: { options }, key };
}

/** Feeds a plain value (isPlain's) to `hash`, each kind tagged so that different values never read alike. */
function hashValue(hash: ReturnType<typeof createHash>, value: unknown): void {
  if (value instanceof Uint8Array) {
    hash.update(`b${value.length}:`).update(value);
  } else if (Array.isArray(value)) {
    hash.update(`a${value.length}:`);
    for (const item of value) hashValue(hash, item);
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    hash.update(`o${entries.length}:`);
    for (const [name, item] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      hash.update(`${name.length}:${name}`);
      hashValue(hash, item);
    }
  } else {
    const text = String(value);
    hash.update(`${typeof value}${text.length}:${text}`);
  }
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
  const options = plainTls(what, tls);
  if (server && options.key === undefined && options.pfx === undefined) {
    throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: options.tls needs key and cert (or pfx) for a server`);
  }
  checkContext(what, options);
  return { options };
}

/** A copy of `tls`'s settings, each a plain value (the shards get a copy: no functions). */
function plainTls(what: string, tls: TlsServerOptions | TlsClientOptions): Record<string, unknown> {
  checkObject(what, 'options.tls', tls);
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(tls)) {
    if (value === undefined) continue;
    if (!isPlain(value)) throw invalid(what, `options.tls.${name}`, 'strings, Buffers, numbers or booleans (shards get a copy: no functions)', value);
    options[name] = value;
  }
  return options;
}

/** Builds a secure context from `options` (less the socket's own settings); a TypeError when it cannot. */
function checkContext(what: string, options: Record<string, unknown>): void {
  const context: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) if (!SOCKET_TLS_OPTIONS.has(name)) context[name] = value;
  try {
    createSecureContext(context as SecureContextOptions);
  } catch (error) {
    throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `${what}: options.tls: ${(error as Error).message}`, { cause: error });
  }
}

function isPlain(value: unknown): boolean {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.every(isPlain);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).every(isPlain);
  return false;
}

function timeout(what: string, ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_TIMER_MS) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `${what}: options.handshakeTimeoutMs must be an integer from 1 to ${MAX_TIMER_MS}, got ${describeValue(ms)}`,
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

/**
 * Throws unless `bytes` (a transport, carried by every ADOPT record of its streams) fits a
 * ring record beside the ADOPT's own fields: TLS material as large as a CA bundle needs a
 * larger ringCapacity.
 */
export function checkTransportSize(what: string, bytes: Uint8Array | null, maxPayload: number, adoptSize: number): void {
  if (bytes !== null && adoptSize + bytes.length > maxPayload) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `${what}: the websocket and tls options take ${bytes.length} bytes, more than a ${maxPayload}-byte ring record holds beside a hand-over; raise ringCapacity or trim the options (a ca bundle, for one)`,
    );
  }
}
