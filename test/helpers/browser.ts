/**
 * A real browser for the WebSocket tests: Debian's Chromium (`apt-get install chromium`;
 * CHROMIUM_PATH overrides /usr/bin/chromium), driven by playwright-core as
 * bench/harness/screenshot.ts drives it: headless, --no-sandbox, a fresh user-data
 * directory, all of it removed by close().
 *
 * TLS: the browser trusts the test CA for real. Chromium on Linux takes the roots a user
 * added from the NSS database in $HOME/.pki/nssdb, so the launch makes one with certutil
 * (Debian's libnss3-tools) in a HOME of the browser's own and adds the CA to it. A wss://
 * page then verifies the server's chain and name as any user's browser does, and a
 * certificate the CA did not sign is refused. `--ignore-certificate-errors` would accept
 * any certificate at all, so a test could not tell a working TLS setup from a broken one.
 *
 * The page side is plain JavaScript (PAGE_SCRIPT, evaluated in each new page as
 * `window.ringwirePage`): it is sent to the browser as text, so nothing the TypeScript
 * compiler adds can break it. Each of its functions runs one WebSocket to the end and
 * resolves a summary; each has its own deadline, so a test never hangs on the browser.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-proxy-server',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What `ringwirePage.echo` reports: the page checked every echo itself. */
export interface EchoSummary {
  /** The WebSocket opened. */
  opened: boolean;
  /** Messages sent. */
  sent: number;
  /** Echoes received that were the next one expected, intact. */
  echoed: number;
  /** Bytes of those echoes. */
  bytes: number;
  /** The first thing that went wrong (a wrong, missing or text echo, the deadline), or null. */
  failure: string | null;
  /** The close event's code and wasClean (-1 and false when it never came). */
  closeCode: number;
  wasClean: boolean;
  /** From the WebSocket's creation to its close event. */
  ms: number;
}

/** What `ringwirePage.member` reports. */
export interface MemberSummary {
  opened: boolean;
  /** Every message received, base64, in order (the first is the server's signal to start). */
  received: string[];
  failure: string | null;
  /** The close event's code and wasClean (-1 and false when it never came). */
  closeCode: number;
  wasClean: boolean;
}

/** What `ringwirePage.open` reports: whether the WebSocket opened at all. */
export interface OpenSummary {
  opened: boolean;
  /** An error event came. */
  errored: boolean;
  closeCode: number;
}

/**
 * The page side, as text. Messages of `echo` carry their sequence number (u32 LE) in their
 * first 4 bytes; the rest is a function of it, and so is the size: 4 to 303 bytes, and
 * every 97th 4 to 60,003 (a 16-bit WebSocket length; Chromium sends each message as one
 * frame). The page checks each echo against the message it sent.
 */
const PAGE_SCRIPT = String.raw`
(() => {
  function mix(a, b) {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
  function size(seq) {
    return 4 + (seq % 97 === 0 ? mix(seq, 1) % 60000 : mix(seq, 1) % 300);
  }
  function byteAt(seed, i) {
    return (seed + Math.imul(i, 0x9d) + (i >>> 8)) & 0xff;
  }
  function message(seq) {
    const bytes = new Uint8Array(size(seq));
    new DataView(bytes.buffer).setUint32(0, seq, true);
    const seed = mix(seq, 2);
    for (let i = 4; i < bytes.length; i++) bytes[i] = byteAt(seed, i);
    return bytes;
  }
  function problem(got, seq) {
    if (got.length !== size(seq)) return 'echo ' + seq + ': ' + got.length + ' bytes, expected ' + size(seq);
    const carried = new DataView(got.buffer, got.byteOffset, got.byteLength).getUint32(0, true);
    if (carried !== seq) return 'echo ' + seq + ' carries sequence number ' + carried;
    const seed = mix(seq, 2);
    for (let i = 4; i < got.length; i++) {
      if (got[i] !== byteAt(seed, i)) return 'echo ' + seq + ': byte ' + i + ' differs';
    }
    return null;
  }
  function toBase64(bytes) {
    let text = '';
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text);
  }
  function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  /** Runs one WebSocket to its close event (or deadlineMs): start(ws, finish) wires it. */
  function run(url, deadlineMs, summary, start) {
    return new Promise((resolve) => {
      const began = performance.now();
      let done = false;
      let ws = null;
      const finish = (failure) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (failure && !summary.failure) summary.failure = failure;
        if ('ms' in summary) summary.ms = Math.round(performance.now() - began);
        resolve(summary);
      };
      const timer = setTimeout(() => {
        finish('the page gave up after ' + deadlineMs + ' ms');
        if (ws !== null) ws.close();
      }, deadlineMs);
      try {
        ws = new WebSocket(url);
      } catch (error) {
        finish('new WebSocket threw: ' + error);
        return;
      }
      ws.binaryType = 'arraybuffer';
      ws.addEventListener('open', () => (summary.opened = true));
      ws.addEventListener('close', (event) => {
        summary.closeCode = event.code;
        if ('wasClean' in summary) summary.wasClean = event.wasClean;
      });
      start(ws, finish);
    });
  }
  window.ringwirePage = {
    /** Sends count messages at once and checks every echo, in order; closes with 1000 after the last. */
    echo({ url, count, deadlineMs }) {
      const summary = { opened: false, sent: 0, echoed: 0, bytes: 0, failure: null, closeCode: -1, wasClean: false, ms: 0 };
      return run(url, deadlineMs, summary, (ws, finish) => {
        ws.onopen = () => {
          for (let seq = 0; seq < count; seq++) {
            ws.send(message(seq));
            summary.sent++;
          }
        };
        ws.onmessage = (event) => {
          if (summary.failure !== null) return;
          if (!(event.data instanceof ArrayBuffer)) {
            summary.failure = 'echo ' + summary.echoed + ' came as text';
            ws.close(4000);
            return;
          }
          const got = new Uint8Array(event.data);
          const wrong = problem(got, summary.echoed);
          if (wrong !== null) {
            summary.failure = wrong;
            ws.close(4000);
            return;
          }
          summary.echoed++;
          summary.bytes += got.length;
          if (summary.echoed === count) ws.close(1000, 'done');
        };
        ws.onclose = () => finish(summary.echoed === count ? null : 'closed after ' + summary.echoed + ' of ' + count + ' echoes');
      });
    },
    /**
     * A member of a room: once the first message comes (the server's start), sends each of
     * send (base64) as a binary message; keeps every message received; closes with 1000 once
     * it has total.
     */
    member({ url, send, total, deadlineMs }) {
      const summary = { opened: false, received: [], failure: null, closeCode: -1, wasClean: false };
      return run(url, deadlineMs, summary, (ws, finish) => {
        ws.onmessage = (event) => {
          if (!(event.data instanceof ArrayBuffer)) {
            finish('message ' + summary.received.length + ' came as text');
            ws.close(4000);
            return;
          }
          summary.received.push(toBase64(new Uint8Array(event.data)));
          if (summary.received.length === 1) for (const text of send) ws.send(fromBase64(text));
          if (summary.received.length === total) ws.close(1000, 'done');
        };
        ws.onclose = () => finish(summary.received.length === total ? null : 'closed after ' + summary.received.length + ' of ' + total + ' messages');
      });
    },
    /** Opens a WebSocket and closes it at once: did it open? */
    open({ url, deadlineMs }) {
      const summary = { opened: false, errored: false, closeCode: -1, failure: null };
      return run(url, deadlineMs, summary, (ws, finish) => {
        ws.onopen = () => ws.close(1000);
        ws.onerror = () => (summary.errored = true);
        ws.onclose = () => finish(null);
      });
    },
  };
})();
`;

/** A Chromium for one test file: a fresh page per test, everything removed by close(). */
export interface TestBrowser {
  /** A new page with ringwirePage installed; closed by close() if the test does not close it. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export interface BrowserOptions {
  /** A CA certificate (PEM) the browser trusts, as a user who added it would. */
  trustedCa?: string;
}

/**
 * Launches Chromium headless with a fresh user-data directory. Throws, naming the package,
 * when Chromium (or, with trustedCa, certutil) is missing: `npm test` installs both first.
 */
export async function launchBrowser(options: BrowserOptions = {}): Promise<TestBrowser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}: install it with \`apt-get install chromium\` (Debian), or set CHROMIUM_PATH`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ringwire-browser-'));
  try {
    const home = join(dir, 'home');
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
    if (options.trustedCa !== undefined) {
      trustCa(home, join(dir, 'ca.pem'), options.trustedCa);
      env.HOME = home;
    }
    const context: BrowserContext = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      env,
    });
    return {
      async newPage() {
        const page = await context.newPage();
        await page.evaluate(PAGE_SCRIPT);
        return page;
      },
      async close() {
        try {
          await context.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Makes the NSS database Chromium reads in `home` and adds `caPem` to it as a trusted root for TLS servers. */
function trustCa(home: string, caFile: string, caPem: string): void {
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  writeFileSync(caFile, caPem);
  const certutil = (args: string[]): void => {
    try {
      execFileSync('certutil', ['-d', `sql:${db}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(
        missing ? 'certutil not found: install it with `apt-get install libnss3-tools` (Debian)' : `certutil ${args[0]}: ${String(error)}`,
      );
    }
  };
  certutil(['-N', '--empty-password']);
  // 'C,,': a CA trusted to issue server certificates (and nothing else).
  certutil(['-A', '-n', 'ringwire test CA', '-t', 'C,,', '-i', caFile]);
}

/** Runs `ringwirePage.<name>(args)` in `page`; resolves its summary. */
export function inPage<T>(page: Page, name: 'echo' | 'member' | 'open', args: Record<string, unknown>): Promise<T> {
  return page.evaluate(`window.ringwirePage.${name}(${JSON.stringify(args)})`) as Promise<T>;
}
