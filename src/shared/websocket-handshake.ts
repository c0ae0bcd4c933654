/**
 * The WebSocket opening handshake (RFC 6455 §4), both sides, as pure functions of the bytes
 * read so far: no socket, no state. The caller appends what the socket delivers and calls
 * again while the answer is 'incomplete'.
 *
 * Server: parseUpgradeRequest checks a client's HTTP/1.1 upgrade request and answers with
 * the complete response to write: 101 Switching Protocols, or an error status with
 * `Connection: close` (then close the socket once it is written). Bytes after the request
 * (`consumed` onwards) are already WebSocket frames: feed them to the decoder.
 *
 * Client: makeClientKey, clientUpgradeRequest, then parseUpgradeResponse on what the server
 * answers; bytes after its `consumed` are frames too.
 *
 * Neither side negotiates a subprotocol or an extension: the server never answers
 * Sec-WebSocket-Protocol or Sec-WebSocket-Extensions (so no permessage-deflate, and RSV
 * bits stay an error), and the client rejects a server that picks either.
 */
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { describeValue } from './describe-value.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from './errors.js';

/** The GUID RFC 6455 appends to the client's key before hashing it. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Default bound on a request's head (request line and headers, blank line included). */
export const DEFAULT_MAX_HEADER_BYTES = 8192;

/** Bound on a server's response head, which parseUpgradeResponse reads. */
export const MAX_RESPONSE_HEADER_BYTES = 8192;

export interface UpgradeRequestOptions {
  /** When set, the request target's path (without the query) must be exactly this, else 404. */
  path?: string;
  /** When set, the Origin header must be one of these (compared case-insensitively), else 403. */
  origins?: readonly string[];
  /** Longest request head accepted, in bytes; a longer one is refused 400. Default 8192. */
  maxHeaderBytes?: number;
}

/** The end of the headers has not arrived yet: call again with more bytes. */
export interface HandshakeIncomplete {
  status: 'incomplete';
}

/** The server refuses: write `response`, then close the connection. */
export interface UpgradeRejected {
  status: 'rejected';
  httpStatus: 400 | 403 | 404 | 426;
  /** A complete HTTP/1.1 response with Connection: close and a short text body. */
  response: Uint8Array;
  /** Why, in a few words (also the response body): for logs and counters. */
  why: string;
}

/** The server accepts: write `response`; the connection speaks WebSocket from `consumed` on. */
export interface UpgradeAccepted {
  status: 'accepted';
  /** 101 Switching Protocols with Sec-WebSocket-Accept. */
  response: Uint8Array;
  /** Bytes of the request (its head): what follows them is the client's first frames. */
  consumed: number;
  /** The request target's path, without the query. */
  path: string;
  /** The request target as sent, query included. */
  target: string;
  /** The Origin header as sent, or null when there was none (a non-browser client). */
  origin: string | null;
}

export type UpgradeResult = HandshakeIncomplete | UpgradeRejected | UpgradeAccepted;

/** The server refused, or answered what this client cannot accept: close the connection. */
export interface UpgradeResponseRejected {
  status: 'rejected';
  /** Why, in a few words: for logs and error reports. */
  why: string;
}

/** The server accepted: the connection speaks WebSocket from `consumed` on. */
export interface UpgradeResponseAccepted {
  status: 'accepted';
  /** Bytes of the response head: what follows them is the server's first frames. */
  consumed: number;
}

/** What the client makes of the server's answer. */
export type UpgradeResponseResult = HandshakeIncomplete | UpgradeResponseRejected | UpgradeResponseAccepted;

const INCOMPLETE: HandshakeIncomplete = Object.freeze({ status: 'incomplete' as const });

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** base64 of 16 bytes, as RFC 6455 §4.1 asks of Sec-WebSocket-Key. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/** A header line: a token, a colon, the value between optional whitespace. */
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([!-~]+) HTTP\/(\d)\.(\d)$/;

const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3})(?: .*)?$/;

const STATUS_TEXT = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 426: 'Upgrade Required' } as const;

const ascii = new TextEncoder();

/**
 * Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
 * RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
 */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID, 'latin1')
    .digest('base64');
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function makeClientKey(): string {
  return randomBytes(16).toString('base64');
}

function checkBytes(bytes: Uint8Array, length: number): void {
  if (!(bytes instanceof Uint8Array)) {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `bytes must be a Uint8Array, got ${describeValue(bytes)}`);
  }
  if (!Number.isInteger(length) || length < 0 || length > bytes.length) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `length must be an integer 0..${bytes.length}, got ${describeValue(length)}`);
  }
}

/** The offset just past the blank line ending the head, searched in bytes[0, limit); -1 if absent. */
function headEnd(bytes: Uint8Array, limit: number): number {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, limit).indexOf(HEAD_END);
  return at < 0 ? -1 : at + 4;
}

interface Head {
  /** The request or status line. */
  start: string;
  /** Header values by lower-case name; repeated headers joined with ', ' as HTTP lists are. */
  fields: Map<string, string>;
  hosts: number;
}

/** The head bytes[0, end) (end just past the blank line) as lines, or null when malformed. */
function parseHead(bytes: Uint8Array, end: number): Head | null {
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, end - 4)
    .toString('latin1')
    .split('\r\n');
  if (hasControl(lines[0])) return null;
  const fields = new Map<string, string>();
  let hosts = 0;
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k];
    // A bare CR or LF, a NUL, or a folded line (leading whitespace) makes the head malformed.
    const field = hasControl(line) ? null : FIELD_LINE.exec(line);
    if (field === null) return null;
    const name = field[1].toLowerCase();
    const prior = fields.get(name);
    fields.set(name, prior === undefined ? field[2] : `${prior}, ${field[2]}`);
    if (name === 'host') hosts++;
  }
  return { start: lines[0], fields, hosts };
}

/** True when `line` holds a control character other than HTAB (a bare CR or LF, a NUL…). */
function hasControl(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/** True when the comma-separated list `value` holds `token` (lower case), ignoring case. */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const item of value.split(',')) if (item.trim().toLowerCase() === token) return true;
  return false;
}

function isHttp11OrLater(major: string, minor: string): boolean {
  return Number(major) > 1 || (major === '1' && Number(minor) >= 1);
}

function reject(httpStatus: 400 | 403 | 404 | 426, why: string): UpgradeRejected {
  const body = `${why}\n`;
  // A 426 must name the protocol to upgrade to, and Upgrade needs its Connection option.
  const headers = httpStatus === 426 ? 'Connection: close, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' : 'Connection: close\r\n';
  const text =
    `HTTP/1.1 ${httpStatus} ${STATUS_TEXT[httpStatus]}\r\n${headers}` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  return { status: 'rejected', httpStatus, response: ascii.encode(text), why };
}

/**
 * Server side: reads the client's upgrade request from bytes[0, length). 'incomplete' while
 * the head has not ended and is shorter than maxHeaderBytes. 'rejected' with the response
 * to write: 400 when the head is too large or malformed, the method is not GET, the
 * version is below HTTP/1.1, the target is not a path, Host is missing or repeated, the
 * request has a body, Upgrade is not websocket, Connection lacks the upgrade token, or
 * Sec-WebSocket-Key is missing or not base64 of 16 bytes; 426 (with Sec-WebSocket-Version:
 * 13) when the version is not 13; then 404 when `path` is set and differs; 403 when
 * `origins` is set and Origin is absent or not among them. Otherwise 'accepted'. Throws a
 * TypeError or RangeError when an argument is invalid.
 */
export function parseUpgradeRequest(bytes: Uint8Array, length: number, options: UpgradeRequestOptions = {}): UpgradeResult {
  checkBytes(bytes, length);
  const { path: wantedPath, origins, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES } = options;
  if (!Number.isInteger(maxHeaderBytes) || maxHeaderBytes < 1) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `options.maxHeaderBytes must be an integer >= 1, got ${describeValue(maxHeaderBytes)}`);
  }
  if (wantedPath !== undefined && (typeof wantedPath !== 'string' || wantedPath[0] !== '/')) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `options.path must be a string starting with '/', got ${describeValue(wantedPath)}`);
  }
  if (origins !== undefined && (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string'))) {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `options.origins must be an array of strings, got ${describeValue(origins)}`);
  }

  const end = headEnd(bytes, Math.min(length, maxHeaderBytes));
  if (end < 0) return length >= maxHeaderBytes ? reject(400, 'request head too large') : INCOMPLETE;
  const head = parseHead(bytes, end);
  if (head === null) return reject(400, 'malformed request head');
  const line = REQUEST_LINE.exec(head.start);
  if (line === null) return reject(400, 'malformed request line');
  if (line[1] !== 'GET') return reject(400, 'method is not GET');
  if (!isHttp11OrLater(line[3], line[4])) return reject(400, 'HTTP version below 1.1');
  const target = line[2];
  if (target[0] !== '/') return reject(400, 'request target is not a path');
  if (head.hosts !== 1) return reject(400, head.hosts === 0 ? 'no Host header' : 'more than one Host header');
  const fields = head.fields;
  const contentLength = fields.get('content-length');
  // What follows the head is read as frames: a request body would be taken for one.
  if (fields.has('transfer-encoding') || (contentLength !== undefined && contentLength !== '0')) return reject(400, 'request has a body');
  if (fields.get('upgrade')?.toLowerCase() !== 'websocket') return reject(400, 'Upgrade is not websocket');
  if (!hasToken(fields.get('connection'), 'upgrade')) return reject(400, 'Connection lacks upgrade');
  if (fields.get('sec-websocket-version') !== '13') return reject(426, 'Sec-WebSocket-Version is not 13');
  const key = fields.get('sec-websocket-key');
  if (key === undefined || !KEY_PATTERN.test(key)) return reject(400, 'missing or invalid Sec-WebSocket-Key');
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  if (wantedPath !== undefined && path !== wantedPath) return reject(404, 'no WebSocket at this path');
  const origin = fields.get('origin') ?? null;
  if (origins !== undefined) {
    const wanted = origin?.toLowerCase();
    if (wanted === undefined || !origins.some((o) => o.toLowerCase() === wanted)) return reject(403, 'origin not allowed');
  }
  const response = ascii.encode(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
  );
  return { status: 'accepted', response, consumed: end, path, target, origin };
}

/** Visible ASCII: what a request line or header value built here may hold. */
const VISIBLE = /^[!-~]+$/;

/**
 * Client side: the upgrade request for ws://host:port/path with Sec-WebSocket-Key `key`
 * (makeClientKey) and, when given, an Origin header. An IPv6 host is bracketed in Host.
 * Throws a TypeError or RangeError when an argument is not a string or number, the host
 * or origin is not visible ASCII (or the host holds '/', '?', '#' or '@'), the port is not
 * 1-65535, the path does not start with '/' or holds a space or control character, or the
 * key is not base64 of 16 bytes.
 */
export function clientUpgradeRequest(host: string, port: number, path: string, key: string, origin?: string): Uint8Array {
  for (const [what, value] of [
    ['host', host],
    ['path', path],
    ['key', key],
  ] as const) {
    if (typeof value !== 'string') throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${what} must be a string, got ${describeValue(value)}`);
  }
  if (!VISIBLE.test(host) || /[/?#@]/.test(host)) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `host must be a host name or address, got ${describeValue(host)}`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `port must be an integer 1..65535, got ${describeValue(port)}`);
  }
  if (path[0] !== '/' || !VISIBLE.test(path)) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `path must start with '/' and hold only visible ASCII, got ${describeValue(path)}`);
  }
  if (!KEY_PATTERN.test(key)) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `key must be base64 of 16 bytes (makeClientKey), got ${describeValue(key)}`);
  }
  if (origin !== undefined && (typeof origin !== 'string' || !VISIBLE.test(origin))) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `origin must be visible ASCII, got ${describeValue(origin)}`);
  }
  const authority = host.includes(':') && host[0] !== '[' ? `[${host}]:${port}` : `${host}:${port}`;
  let text =
    `GET ${path} HTTP/1.1\r\nHost: ${authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (origin !== undefined) text += `Origin: ${origin}\r\n`;
  return ascii.encode(`${text}\r\n`);
}

/**
 * Client side: reads the server's answer to the request made with `key` from
 * bytes[0, length). 'incomplete' while its head has not ended (and is under 8192 bytes).
 * 'rejected' with why when the head is too large or malformed, the status is not 101, the
 * version is below HTTP/1.1, Upgrade is not websocket, Connection lacks upgrade,
 * Sec-WebSocket-Accept does not match the key, or the server chose an extension or a
 * subprotocol (none was offered). Otherwise 'accepted'. Throws a TypeError or RangeError
 * when an argument is invalid.
 */
export function parseUpgradeResponse(bytes: Uint8Array, length: number, key: string): UpgradeResponseResult {
  checkBytes(bytes, length);
  if (typeof key !== 'string') throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `key must be a string, got ${describeValue(key)}`);
  const end = headEnd(bytes, Math.min(length, MAX_RESPONSE_HEADER_BYTES));
  if (end < 0) return length >= MAX_RESPONSE_HEADER_BYTES ? { status: 'rejected', why: 'response head too large' } : INCOMPLETE;
  const head = parseHead(bytes, end);
  if (head === null) return { status: 'rejected', why: 'malformed response head' };
  const line = STATUS_LINE.exec(head.start);
  if (line === null) return { status: 'rejected', why: 'malformed status line' };
  if (line[3] !== '101') return { status: 'rejected', why: `status ${line[3]}, not 101` };
  if (!isHttp11OrLater(line[1], line[2])) return { status: 'rejected', why: 'HTTP version below 1.1' };
  const fields = head.fields;
  if (fields.get('upgrade')?.toLowerCase() !== 'websocket') return { status: 'rejected', why: 'Upgrade is not websocket' };
  if (!hasToken(fields.get('connection'), 'upgrade')) return { status: 'rejected', why: 'Connection lacks upgrade' };
  if (fields.get('sec-websocket-accept') !== acceptKey(key)) return { status: 'rejected', why: 'Sec-WebSocket-Accept does not match the key' };
  if (fields.has('sec-websocket-extensions')) return { status: 'rejected', why: 'server chose an extension; none was offered' };
  if (fields.has('sec-websocket-protocol')) return { status: 'rejected', why: 'server chose a subprotocol; none was offered' };
  return { status: 'accepted', consumed: end };
}
