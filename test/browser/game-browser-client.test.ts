/**
 * The README's browser page (examples/browser-client.html) in a real Chromium against the
 * guide's server (examples/game-server.ts with WS_PORT): the browser and a Panda-framed TCP
 * client play in the same room, each sees the other in the states, the arrow key moves the
 * browser's player, and the server's drain closes the page's socket with 1000.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { START_DEADLINE_MS, exitOf, killPrograms, startProgram } from '../helpers/example-program.js';
import { Peer, closeAll, frame, pollUntil } from '../helpers/net-harness.js';

/** The page's text by element id (page functions run in the browser: no DOM types here). */
declare const document: { getElementById(id: string): { textContent: string | null } | null };

const PAGE = pathToFileURL(join(import.meta.dirname, '../../examples/browser-client.html')).href;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  profile = mkdtempSync(join(tmpdir(), 'ringwire-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
});

afterEach(async () => {
  await closeAll();
  await killPrograms();
});

function join_(name: string): Buffer {
  const text = Buffer.from(name, 'utf8');
  const body = Buffer.alloc(3 + text.length);
  body.writeUInt8(1, 0);
  body.writeUInt16LE(text.length, 1);
  text.copy(body, 3);
  return frame(body);
}

describe('examples/browser-client.html', () => {
  it('plays in the same room as a Panda-framed TCP client; the arrow key moves it; the drain closes it with 1000', async () => {
    const server = startProgram('game-server.ts', [], { env: { PORT: '0', WS_PORT: '0' } });
    const port = Number((await server.waitForLine(/^game server on port (\d+)$/, START_DEADLINE_MS))[1]);
    const wsPort = Number((await server.waitForLine(/^browsers on ws:\/\/localhost:(\d+)\/$/, START_DEADLINE_MS))[1]);
    const panda = await Peer.connect(port);
    await panda.write(join_('panda'));
    const page = await context.newPage();
    await page.goto(`${PAGE}?port=${wsPort}`);
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('joined as player'), undefined, { timeout: 10_000 });
    // Both players in the page's view of the state.
    await page.waitForFunction(() => (document.getElementById('state')!.textContent!.match(/^player /gm) ?? []).length === 2, undefined, { timeout: 10_000 });
    const me = Number(/player (\d+)/.exec((await page.textContent('#status'))!)![1]);
    // The browser's input moves its player: the Panda client sees it.
    await page.keyboard.down('ArrowRight');
    await pollUntil(
      () =>
        panda.frames.some((f) => {
          if (f[0] !== 11) return false;
          for (let i = 0, at = 6; i < f.readUInt8(5); i++, at += 12) if (f.readUInt32LE(at) === me && f.readFloatLE(at + 4) > 0) return true;
          return false;
        }),
      { label: "a state with the browser's player moved" },
    );
    await page.waitForFunction(() => / \(you\) x=[1-9]|\(you\) x=0\.[0-9]*[1-9]/.test(document.getElementById('state')!.textContent!), undefined, { timeout: 10_000 });
    server.child.kill('SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'closed (1000)', undefined, { timeout: 10_000 });
    await page.close();
  });
});
