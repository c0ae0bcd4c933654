import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/shared/errors.js';
import { DecodeStatus } from '../../src/shared/frame-decoder.js';
import { WebSocketFrameDecoder } from '../../src/shared/websocket-frame-decoder.js';
import {
  acceptKey,
  clientUpgradeRequest,
  DEFAULT_MAX_HEADER_BYTES,
  makeClientKey,
  parseUpgradeRequest,
  parseUpgradeResponse,
  type UpgradeRequestOptions,
  type UpgradeResult,
} from '../../src/shared/websocket-handshake.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';
import { concatBytes, rawFrame } from '../helpers/websocket-frames.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** A request from header lines (CRLF added), ending with the blank line. */
function request(lines: readonly string[]): Uint8Array {
  return ascii(`${lines.join('\r\n')}\r\n\r\n`);
}

const GOOD = [
  'GET /chat?room=1 HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${RFC_KEY}`,
  'Origin: http://example.com',
  'Sec-WebSocket-Protocol: chat, superchat',
  'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
  'Sec-WebSocket-Version: 13',
];

/** GOOD with the header `name` replaced by `line` (or removed when line is null). */
function withHeader(name: string, line: string | null): string[] {
  const lower = name.toLowerCase();
  const kept = GOOD.filter((l) => !l.toLowerCase().startsWith(`${lower}:`));
  return line === null ? kept : [...kept, line];
}

function parse(bytes: Uint8Array, options?: UpgradeRequestOptions): UpgradeResult {
  return parseUpgradeRequest(bytes, bytes.length, options);
}

/** The status line, the headers by lower-case name, and the body of an HTTP response. */
function readResponse(bytes: Uint8Array): { statusLine: string; headers: Map<string, string>; body: string } {
  const all = text(bytes);
  const end = all.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const [statusLine, ...lines] = all.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as const));
  return { statusLine, headers, body: all.slice(end + 4) };
}

describe('acceptKey', () => {
  it('answers the key of RFC 6455 §1.3 as the RFC does', () => {
    expect(acceptKey(RFC_KEY)).toBe(RFC_ACCEPT);
  });
});

describe('parseUpgradeRequest: accepting', () => {
  it('answers the RFC’s example request with 101 and its accept key, and nothing negotiated', () => {
    const result = parse(request(GOOD));
    expect(result.status).toBe('accepted');
    if (result.status !== 'accepted') return;
    const response = readResponse(result.response);
    expect(response.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(response.headers.get('upgrade')).toBe('websocket');
    expect(response.headers.get('connection')).toBe('Upgrade');
    expect(response.headers.get('sec-websocket-accept')).toBe(RFC_ACCEPT);
    expect(response.headers.has('sec-websocket-protocol')).toBe(false);
    expect(response.headers.has('sec-websocket-extensions')).toBe(false);
    expect(response.body).toBe('');
    expect(result.consumed).toBe(request(GOOD).length);
    expect(result.path).toBe('/chat');
    expect(result.target).toBe('/chat?room=1');
    expect(result.origin).toBe('http://example.com');
  });

  it('takes header names and the Upgrade value in any case, and Connection as a token list', () => {
    const lines = [
      'GET / HTTP/1.1',
      'host: a',
      'UPGRADE: WebSocket',
      'connection: keep-alive, Upgrade',
      `sec-websocket-key:${RFC_KEY}`,
      'SEC-WEBSOCKET-VERSION:   13\t',
    ];
    const result = parse(request(lines));
    expect(result.status).toBe('accepted');
    if (result.status === 'accepted') expect(result.origin).toBeNull();
  });

  it('accepts HTTP/1.1 and later versions', () => {
    const result = parse(request(['GET / HTTP/2.0', ...GOOD.slice(1)]));
    expect(result.status).toBe('accepted');
  });

  it('says how much it consumed, so frames sent right after the request are not lost', () => {
    const frames = concatBytes([rawFrame({ opcode: 2, payload: [1, 2, 3], maskKey: 0x11223344 }), rawFrame({ opcode: 9, payload: [], maskKey: 7 })]);
    const bytes = concatBytes([request(GOOD), frames]);
    const result = parse(bytes);
    expect(result.status).toBe('accepted');
    if (result.status !== 'accepted') return;
    const got: number[][] = [];
    let pings = 0;
    const decoder = new WebSocketFrameDecoder({
      role: 'server',
      control: { ping: () => pings++, pong: () => {}, close: () => {}, fail: () => {} },
    });
    const status = decoder.write(bytes.slice(result.consumed), {
      onDatagram(b, start, length) {
        got.push([...b.subarray(start, start + length)]);
        return true;
      },
    });
    expect(status).toBe(DecodeStatus.NEED_MORE);
    expect(got).toEqual([[1, 2, 3]]);
    expect(pings).toBe(1);
  });

  it('split at any byte: incomplete until the blank line has arrived, then accepted with the same answer', () => {
    const head = request(GOOD);
    const whole = concatBytes([head, Uint8Array.of(0x82, 0x80)]);
    const once = parse(whole);
    // The caller accumulates what arrives in one buffer: the first n bytes, then the rest.
    const buffer = new Uint8Array(whole.length);
    for (let n = 0; n <= whole.length; n++) {
      buffer.fill(0);
      buffer.set(whole.subarray(0, n));
      const first = parseUpgradeRequest(buffer, n);
      if (n < head.length) expect(first, `prefix ${n}`).toEqual({ status: 'incomplete' });
      else expect(first, `prefix ${n}`).toEqual(once);
      buffer.set(whole.subarray(n), n);
      expect(parseUpgradeRequest(buffer, whole.length)).toEqual(once);
    }
    expect(once.status === 'accepted' && once.consumed).toBe(head.length);
  });

  it('reads only bytes[0, length): what lies past it does not count', () => {
    const bytes = concatBytes([request(GOOD).subarray(0, 50), new Uint8Array(4).fill(13)]);
    expect(parseUpgradeRequest(bytes, 50).status).toBe('incomplete');
  });

  it('matches the path without the query, and origins case-insensitively', () => {
    expect(parse(request(GOOD), { path: '/chat' }).status).toBe('accepted');
    expect(parse(request(GOOD), { origins: ['https://other.example', 'HTTP://Example.com'] }).status).toBe('accepted');
  });
});

describe('parseUpgradeRequest: refusing', () => {
  const cases: { name: string; lines: string[]; options?: UpgradeRequestOptions; why: string; status: 400 | 403 | 404 | 426 }[] = [
    { name: 'a malformed request line', lines: ['GET /chat', ...GOOD.slice(1)], why: 'malformed request line', status: 400 },
    { name: 'a request line with two spaces', lines: ['GET  /chat HTTP/1.1', ...GOOD.slice(1)], why: 'malformed request line', status: 400 },
    { name: 'a header without a colon', lines: [...GOOD, 'Broken header'], why: 'malformed request head', status: 400 },
    { name: 'a space before the colon', lines: [...GOOD, 'X-Thing : 1'], why: 'malformed request head', status: 400 },
    { name: 'a folded header line', lines: [...GOOD, 'X-Thing: 1', ' continued'], why: 'malformed request head', status: 400 },
    { name: 'a bare LF inside a header', lines: [...GOOD, 'X-Thing: a\nb'], why: 'malformed request head', status: 400 },
    { name: 'a NUL in a value', lines: [...GOOD, 'X-Thing: a\0b'], why: 'malformed request head', status: 400 },
    { name: 'POST', lines: ['POST /chat HTTP/1.1', ...GOOD.slice(1)], why: 'method is not GET', status: 400 },
    { name: 'lower-case get', lines: ['get /chat HTTP/1.1', ...GOOD.slice(1)], why: 'method is not GET', status: 400 },
    { name: 'HTTP/1.0', lines: ['GET /chat HTTP/1.0', ...GOOD.slice(1)], why: 'HTTP version below 1.1', status: 400 },
    { name: 'an absolute-form target', lines: ['GET http://a/chat HTTP/1.1', ...GOOD.slice(1)], why: 'request target is not a path', status: 400 },
    { name: 'no Host', lines: withHeader('Host', null), why: 'no Host header', status: 400 },
    { name: 'two Hosts', lines: [...GOOD, 'Host: b'], why: 'more than one Host header', status: 400 },
    { name: 'a body announced', lines: [...GOOD, 'Content-Length: 5'], why: 'request has a body', status: 400 },
    { name: 'a chunked body', lines: [...GOOD, 'Transfer-Encoding: chunked'], why: 'request has a body', status: 400 },
    { name: 'no Upgrade', lines: withHeader('Upgrade', null), why: 'Upgrade is not websocket', status: 400 },
    { name: 'Upgrade: h2c', lines: withHeader('Upgrade', 'Upgrade: h2c'), why: 'Upgrade is not websocket', status: 400 },
    { name: 'no Connection', lines: withHeader('Connection', null), why: 'Connection lacks upgrade', status: 400 },
    { name: 'Connection: keep-alive', lines: withHeader('Connection', 'Connection: keep-alive'), why: 'Connection lacks upgrade', status: 400 },
    { name: 'Connection: upgraded', lines: withHeader('Connection', 'Connection: upgraded'), why: 'Connection lacks upgrade', status: 400 },
    {
      name: 'version 8',
      lines: withHeader('Sec-WebSocket-Version', 'Sec-WebSocket-Version: 8'),
      why: 'Sec-WebSocket-Version is not 13',
      status: 426,
    },
    { name: 'no version', lines: withHeader('Sec-WebSocket-Version', null), why: 'Sec-WebSocket-Version is not 13', status: 426 },
    { name: 'two versions', lines: [...GOOD, 'Sec-WebSocket-Version: 13'], why: 'Sec-WebSocket-Version is not 13', status: 426 },
    { name: 'no key', lines: withHeader('Sec-WebSocket-Key', null), why: 'missing or invalid Sec-WebSocket-Key', status: 400 },
    { name: 'an empty key', lines: withHeader('Sec-WebSocket-Key', 'Sec-WebSocket-Key:'), why: 'missing or invalid Sec-WebSocket-Key', status: 400 },
    {
      name: 'a key of 15 bytes',
      lines: withHeader('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${Buffer.alloc(15, 1).toString('base64')}`),
      why: 'missing or invalid Sec-WebSocket-Key',
      status: 400,
    },
    {
      name: 'a key of 17 bytes',
      lines: withHeader('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${Buffer.alloc(17, 1).toString('base64')}`),
      why: 'missing or invalid Sec-WebSocket-Key',
      status: 400,
    },
    {
      name: 'a key that is not base64',
      lines: withHeader('Sec-WebSocket-Key', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!=='),
      why: 'missing or invalid Sec-WebSocket-Key',
      status: 400,
    },
    { name: 'two keys', lines: [...GOOD, `Sec-WebSocket-Key: ${RFC_KEY}`], why: 'missing or invalid Sec-WebSocket-Key', status: 400 },
    { name: 'another path', lines: GOOD, options: { path: '/game' }, why: 'no WebSocket at this path', status: 404 },
    {
      name: 'a path that only starts like the one wanted',
      lines: ['GET /chat/x HTTP/1.1', ...GOOD.slice(1)],
      options: { path: '/chat' },
      why: 'no WebSocket at this path',
      status: 404,
    },
    {
      name: 'no Origin when origins are set',
      lines: withHeader('Origin', null),
      options: { origins: ['http://example.com'] },
      why: 'origin not allowed',
      status: 403,
    },
    { name: 'an Origin not listed', lines: GOOD, options: { origins: ['http://example.org'] }, why: 'origin not allowed', status: 403 },
    { name: 'an empty origins list', lines: GOOD, options: { origins: [] }, why: 'origin not allowed', status: 403 },
  ];

  it.each(cases)('$name: $status, a complete response with Connection: close and a text body', ({ lines, options, why, status }) => {
    const result = parse(request(lines), options);
    expect(result.status).toBe('rejected');
    if (result.status !== 'rejected') return;
    expect(result.httpStatus).toBe(status);
    expect(result.why).toBe(why);
    const response = readResponse(result.response);
    expect(response.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [A-Z]`));
    expect(response.headers.get('connection')?.split(',')[0]).toBe('close');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(Number(response.headers.get('content-length'))).toBe(response.body.length);
    expect(response.body).toBe(`${result.why}\n`);
    expect(response.headers.has('sec-websocket-accept')).toBe(false);
    if (status === 426) {
      expect(response.headers.get('sec-websocket-version')).toBe('13');
      expect(response.headers.get('upgrade')).toBe('websocket');
    }
  });

  it('checks the version before the key, the path and the origin', () => {
    const lines = withHeader('Sec-WebSocket-Version', 'Sec-WebSocket-Version: 7').filter((l) => !l.startsWith('Sec-WebSocket-Key'));
    const result = parse(request(lines), { path: '/other', origins: [] });
    expect(result.status === 'rejected' && result.httpStatus).toBe(426);
  });

  it('refuses a head longer than maxHeaderBytes, ended or not, with 400', () => {
    const padded = request([...GOOD, `X-Pad: ${'p'.repeat(300)}`]);
    const max = padded.length - 1;
    const whole = parse(padded, { maxHeaderBytes: max });
    expect(whole.status === 'rejected' && whole.httpStatus).toBe(400);
    expect(parseUpgradeRequest(padded, max - 1, { maxHeaderBytes: max }).status).toBe('incomplete');
    const cut = parseUpgradeRequest(padded, max, { maxHeaderBytes: max });
    expect(cut.status === 'rejected' && cut.httpStatus).toBe(400);
    expect(parse(padded, { maxHeaderBytes: padded.length }).status).toBe('accepted');
    // The default bound.
    const endless = ascii(`GET / HTTP/1.1\r\nX-Pad: ${'p'.repeat(DEFAULT_MAX_HEADER_BYTES)}`);
    const refused = parse(endless);
    expect(refused.status === 'rejected' && refused.httpStatus).toBe(400);
    expect(parseUpgradeRequest(endless, DEFAULT_MAX_HEADER_BYTES - 1).status).toBe('incomplete');
  });

  it('never throws and never accepts a request without the required headers, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (garbage, withEnd) => {
        const bytes = withEnd ? concatBytes([garbage, ascii('\r\n\r\n')]) : garbage;
        const result = parse(bytes, { maxHeaderBytes: 1024 });
        expect(['incomplete', 'rejected']).toContain(result.status);
      }),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('rejects invalid arguments with coded errors', () => {
    const bytes = request(GOOD);
    expect(() => parseUpgradeRequest('GET' as unknown as Uint8Array, 3)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_TYPE }));
    expect(() => parseUpgradeRequest(bytes, bytes.length + 1)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    expect(() => parseUpgradeRequest(bytes, -1)).toThrow(RangeError);
    expect(() => parse(bytes, { maxHeaderBytes: 0 })).toThrow(RangeError);
    expect(() => parse(bytes, { path: 'chat' })).toThrow(RangeError);
    expect(() => parse(bytes, { origins: 'http://example.com' as unknown as string[] })).toThrow(TypeError);
  });
});

describe('the client side', () => {
  it('makes keys of 16 random bytes in base64', () => {
    const keys = new Set(Array.from({ length: 50 }, () => makeClientKey()));
    expect(keys.size).toBe(50);
    for (const key of keys) {
      expect(key).toMatch(/^[+/0-9A-Za-z]{22}==$/);
      expect(Buffer.from(key, 'base64')).toHaveLength(16);
    }
  });

  it('writes a request the server side accepts, with the path and origin given', () => {
    const key = makeClientKey();
    const bytes = clientUpgradeRequest('example.com', 8080, '/game?x=1', key, 'https://example.com');
    expect(text(bytes)).toBe(
      'GET /game?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n\r\n`,
    );
    const result = parse(bytes, { path: '/game', origins: ['https://example.com'] });
    expect(result.status).toBe('accepted');
    if (result.status !== 'accepted') return;
    expect(result.consumed).toBe(bytes.length);
    expect(parseUpgradeResponse(result.response, result.response.length, key)).toEqual({ status: 'accepted', consumed: result.response.length });
  });

  it('brackets an IPv6 host and leaves out Origin when none is given', () => {
    const request = text(clientUpgradeRequest('::1', 80, '/', RFC_KEY));
    expect(request).toContain('\r\nHost: [::1]:80\r\n');
    expect(request).not.toContain('Origin');
    expect(text(clientUpgradeRequest('[::1]', 80, '/', RFC_KEY))).toContain('\r\nHost: [::1]:80\r\n');
  });

  it('refuses arguments that would make a bad request', () => {
    const bad = (f: () => unknown, type: ErrorConstructor = RangeError): void => {
      expect(f).toThrow(type);
    };
    bad(() => clientUpgradeRequest('a b', 80, '/', RFC_KEY));
    bad(() => clientUpgradeRequest('a\r\nX: 1', 80, '/', RFC_KEY));
    bad(() => clientUpgradeRequest('a/b', 80, '/', RFC_KEY));
    bad(() => clientUpgradeRequest('', 80, '/', RFC_KEY));
    bad(() => clientUpgradeRequest('a', 0, '/', RFC_KEY));
    bad(() => clientUpgradeRequest('a', 65536, '/', RFC_KEY));
    bad(() => clientUpgradeRequest('a', 80, 'chat', RFC_KEY));
    bad(() => clientUpgradeRequest('a', 80, '/a b', RFC_KEY));
    bad(() => clientUpgradeRequest('a', 80, '/', 'short'));
    bad(() => clientUpgradeRequest('a', 80, '/', RFC_KEY, 'http://a\r\n'));
    bad(() => clientUpgradeRequest(5 as unknown as string, 80, '/', RFC_KEY), TypeError);
  });

  const RESPONSE = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`];

  function response(lines: readonly string[]): Uint8Array {
    return ascii(`${lines.join('\r\n')}\r\n\r\n`);
  }

  it('accepts the RFC’s answer, says what it consumed, and is incomplete before the blank line', () => {
    const head = response(RESPONSE);
    const bytes = concatBytes([head, rawFrame({ opcode: 1, payload: ascii('hi') })]);
    expect(parseUpgradeResponse(bytes, bytes.length, RFC_KEY)).toEqual({ status: 'accepted', consumed: head.length });
    for (let n = 0; n < head.length; n++) expect(parseUpgradeResponse(bytes, n, RFC_KEY)).toEqual({ status: 'incomplete' });
  });

  const refusals: [string, string[]][] = [
    ['a status other than 101', ['HTTP/1.1 403 Forbidden', ...RESPONSE.slice(1)]],
    ['HTTP/1.0', ['HTTP/1.0 101 Switching Protocols', ...RESPONSE.slice(1)]],
    ['a malformed status line', ['HTTP/1.1 1010 Nope', ...RESPONSE.slice(1)]],
    ['no Upgrade', RESPONSE.filter((l) => !l.startsWith('Upgrade'))],
    ['Connection: close', [...RESPONSE.filter((l) => !l.startsWith('Connection')), 'Connection: close']],
    ['a wrong accept key', [...RESPONSE.slice(0, 3), `Sec-WebSocket-Accept: ${acceptKey(makeClientKey())}`]],
    ['no accept key', RESPONSE.slice(0, 3)],
    ['an extension nobody offered', [...RESPONSE, 'Sec-WebSocket-Extensions: permessage-deflate']],
    ['a subprotocol nobody offered', [...RESPONSE, 'Sec-WebSocket-Protocol: chat']],
    ['a malformed header', [...RESPONSE, 'nonsense']],
  ];

  it.each(refusals)('rejects %s, saying why', (_, lines) => {
    const bytes = response(lines);
    const result = parseUpgradeResponse(bytes, bytes.length, RFC_KEY);
    expect(result.status).toBe('rejected');
    if (result.status === 'rejected') expect(result.why.length).toBeGreaterThan(0);
  });

  it('rejects a response head that never ends within 8192 bytes', () => {
    const bytes = ascii(`HTTP/1.1 101 Switching Protocols\r\nX-Pad: ${'p'.repeat(9000)}`);
    expect(parseUpgradeResponse(bytes, bytes.length, RFC_KEY).status).toBe('rejected');
    expect(parseUpgradeResponse(bytes, 8000, RFC_KEY).status).toBe('incomplete');
  });
});
