/**
 * The relay (`npm start`) with WebSocket and TLS (#26): `--websocket` serves WebSocket
 * clients, `--tls-key FILE --tls-cert FILE` puts TLS under the Panda-framed TCP or the
 * WebSocket (wss://). Run as a child process, as a user runs it; the key and certificate
 * files come from the test CA (test/helpers/tls-certificate.ts), written to a temporary
 * folder removed afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { START_DEADLINE_MS, exitOf, killPrograms, startProgram, type Program } from '../helpers/example-program.js';
import { FrameSplitter, closeAll, frame, onCleanup, pollUntil } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';

const certs = testCertificates();
const dir = mkdtempSync(join(tmpdir(), 'ringwire-relay-tls-'));
const KEY = join(dir, 'server.key');
const CERT = join(dir, 'server.pem');
writeFileSync(KEY, certs.servers[0].key);
writeFileSync(CERT, certs.servers[0].cert);

afterEach(async () => {
  await closeAll();
  await killPrograms();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startRelay(args: string[]): Promise<{ relay: Program; port: number; line: string }> {
  const relay = startProgram('relay-server.ts', ['--host', '127.0.0.1', '--port', '0', ...args]);
  const match = await relay.waitForLine(/^ringwire relay on 127\.0\.0\.1:(\d+) — (.*)$/, START_DEADLINE_MS);
  return { relay, port: Number(match[1]), line: match[0] };
}

/** Message `i`: its number (u16 LE), then 0 to 5000 bytes that depend on it. */
function message(i: number): Buffer {
  const out = Buffer.alloc(2 + ((i * 7919) % 5001));
  out.writeUInt16LE(i, 0);
  for (let k = 2; k < out.length; k++) out[k] = (i * 31 + k) & 0xff;
  return out;
}

/** A `ws` client, open, whose messages are collected; terminated by closeAll. */
async function wsClient(url: string, options: WebSocket.ClientOptions = {}): Promise<{ socket: WebSocket; messages: Buffer[] }> {
  const socket = new WebSocket(url, options);
  const messages: Buffer[] = [];
  socket.binaryType = 'nodebuffer';
  socket.on('message', (data: Buffer) => messages.push(data));
  onCleanup(() => socket.terminate());
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  return { socket, messages };
}

/** Sends 300 messages on `socket` and checks that each comes back, in order, intact. */
async function expectEchoes(client: { socket: WebSocket; messages: Buffer[] }): Promise<void> {
  const sent = Array.from({ length: 300 }, (_, i) => message(i));
  for (const m of sent) client.socket.send(m);
  await pollUntil(() => client.messages.length === sent.length, { label: 'every echo' });
  expect(client.messages).toEqual(sent);
}

/** Writes `bytes` on a plain TCP connection; resolves everything received (latin1) once the relay closes it. */
function exchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    onCleanup(() => {
      socket.destroy();
    });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.write(bytes);
  });
}

/** SIGINT, exit 0, and the summary line. */
async function stop(relay: Program): Promise<string> {
  relay.child.kill('SIGINT');
  expect((await exitOf(relay)).code).toBe(0);
  return relay.stdout.at(-1)!;
}

describe('examples/relay-server.ts with WebSocket and TLS', () => {
  it('--websocket: a ws:// client gets 300 echoes in order; a Panda-framed client is refused at the upgrade (400)', async () => {
    const { relay, port, line } = await startRelay(['--shards', '2', '--websocket']);
    expect(line).toMatch(/, WebSocket \(ws:\/\/\), pid \d+$/);
    await expectEchoes(await wsClient(`ws://127.0.0.1:${port}/any/path`));
    // A Panda client's bytes are no HTTP upgrade: the relay answers 400 and closes.
    const panda = await exchange(port, Buffer.concat([frame(Buffer.from('hello')), Buffer.from('\r\n\r\n')]));
    expect(panda).toMatch(/^HTTP\/1\.1 400 /);
    expect(await stop(relay)).toMatch(/resets: .*handshake-failed 1/);
  });

  it('--websocket --websocket-path /game: that path is served, any other answered 404', async () => {
    const { relay, port } = await startRelay(['--shards', '0', '--websocket', '--websocket-path', '/game']);
    await expectEchoes(await wsClient(`ws://127.0.0.1:${port}/game`));
    await expect(wsClient(`ws://127.0.0.1:${port}/other`)).rejects.toThrow(/404/);
    await stop(relay);
  });

  it('--websocket --tls-key --tls-cert: a wss:// client that trusts the test CA gets 300 echoes', async () => {
    const { relay, port, line } = await startRelay(['--shards', '2', '--websocket', '--tls-key', KEY, '--tls-cert', CERT]);
    expect(line).toMatch(/, WebSocket over TLS \(wss:\/\/\), pid \d+$/);
    await expectEchoes(await wsClient(`wss://localhost:${port}/`, { ca: certs.ca }));
    await stop(relay);
  });

  it('--tls-key --tls-cert without --websocket: Panda-framed TCP over TLS, 300 datagrams echoed byte for byte', async () => {
    const { relay, port, line } = await startRelay(['--shards', '0', '--tls-key', KEY, '--tls-cert', CERT]);
    expect(line).toMatch(/, TLS, pid \d+$/);
    const frames: Buffer[] = [];
    const splitter = new FrameSplitter(2, (payload) => frames.push(Buffer.from(payload)));
    const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost' });
    onCleanup(() => {
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    expect(socket.authorized).toBe(true);
    const sent = Array.from({ length: 300 }, (_, i) => message(i));
    socket.write(Buffer.concat(sent.map((m) => frame(m))));
    await pollUntil(() => frames.length === sent.length, { label: 'every echo' });
    expect(frames).toEqual(sent);
    await stop(relay);
  });

  it.each([
    ['--tls-key FILE alone', ['--tls-key', KEY], /relay-server: --tls-key and --tls-cert go together/],
    ['--tls-cert FILE alone', ['--tls-cert', CERT], /relay-server: --tls-key and --tls-cert go together/],
    ['--websocket-path without --websocket', ['--websocket-path', '/game'], /relay-server: --websocket-path needs --websocket/],
    ['a path without its /', ['--websocket', '--websocket-path', 'game'], /--websocket-path must start with \/, got "game"/],
    ['--websocket yes (a switch takes no value)', ['--websocket', 'yes'], /Unexpected argument 'yes'/],
    ['--websocket=yes', ['--websocket=yes'], /Option '--websocket' does not take an argument/],
  ])('rejects %s with a usage message and exit code 2', async (_label, args, message) => {
    const relay = startProgram('relay-server.ts', args);
    expect((await exitOf(relay)).code).toBe(2);
    expect(relay.stderr).toMatch(message);
    expect(relay.stderr).toMatch(/usage: npx tsx examples\/relay-server\.ts \[flags\]/);
    expect(relay.stderr).toMatch(/^ {2}--websocket {2,}accept WebSocket clients/m);
    expect(relay.stdout).toEqual([]);
  });

  it('a key file that does not exist: exit 2, naming it', async () => {
    const relay = startProgram('relay-server.ts', ['--port', '0', '--tls-key', join(dir, 'missing.key'), '--tls-cert', CERT]);
    expect((await exitOf(relay)).code).toBe(2);
    expect(relay.stderr).toMatch(/relay-server: .*missing\.key/);
  });
});
