/**
 * What every benchmark server shares: its command line, its one-line ready signal, and
 * how it stops.
 *
 *   node bench/dist/servers/<name>.js --port 0 --header-size 2 [--shards 2]
 *       [--websocket] [--ws-path /PATH] [--tls-key FILE --tls-cert FILE]   (ringwire's TCP echo server)
 *
 * A server listens on 127.0.0.1, prints exactly one line `listening <port>` on stdout
 * once it accepts clients, and prints nothing else there (diagnostics go to stderr). On
 * SIGTERM or SIGINT it closes cleanly and exits 0. Started by the harness (targets.ts)
 * it also has an IPC channel to its parent: when that closes (the parent died without
 * stopping it) the server stops too, so no orphan keeps its port.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** The length header sizes Panda3D speaks; 0 is raw mode. */
export type ServerHeaderSize = 0 | 2 | 4;

export interface ServerOptions {
  /** Port on 127.0.0.1 (0: an ephemeral port). */
  port: number;
  headerSize: ServerHeaderSize;
  /** Worker shards (ringwire only; 0 everywhere else). */
  shards: number;
  /** Accept WebSocket clients (`--websocket`), answering only `path` when it is given (`--ws-path`); null: Panda3D's framing. */
  websocket: { path: string | null } | null;
  /** Terminate TLS with this key and certificate (`--tls-key`, `--tls-cert`, PEM files); null: no TLS. */
  tls: { key: Buffer; cert: Buffer } | null;
}

/** Which of the shared flags a server takes besides --port and --header-size. */
export interface ServerFlags {
  /** --shards N (ringwire). */
  shards?: boolean;
  /** --websocket, --ws-path, --tls-key and --tls-cert (ringwire's TCP echo server: the shards speak them). */
  transport?: boolean;
}

/** The loopback address every benchmark server listens on. */
export const SERVER_HOST = '127.0.0.1';

/**
 * Parses `--port`, `--header-size` and the flags `flags` (or `withShards`: --shards) names
 * from `argv`. On a bad command line prints one line naming the flag and the value to
 * stderr and exits 2.
 */
export function parseServerOptions(name: string, argv: string[], flags: boolean | ServerFlags): ServerOptions {
  const { shards: withShards = false, transport: withTransport = false } = typeof flags === 'boolean' ? { shards: flags } : flags;
  const usage =
    `usage: ${name} [--port N] [--header-size 0|2|4]${withShards ? ' [--shards N]' : ''}` +
    (withTransport ? ' [--websocket] [--ws-path /PATH] [--tls-key FILE --tls-cert FILE]' : '');
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '0' },
        'header-size': { type: 'string', default: '2' },
        ...(withShards ? { shards: { type: 'string' as const, default: '2' } } : {}),
        ...(withTransport
          ? {
              websocket: { type: 'boolean' as const },
              'ws-path': { type: 'string' as const },
              'tls-key': { type: 'string' as const },
              'tls-cert': { type: 'string' as const },
            }
          : {}),
      },
      strict: true,
      allowPositionals: false,
    });
    const port = integer(values.port as string, 'port', 0, 65535);
    const headerSize = integer(values['header-size'] as string, 'header-size', 0, 4);
    if (headerSize !== 0 && headerSize !== 2 && headerSize !== 4) {
      throw new Error(`--header-size must be 0, 2 or 4, got ${headerSize}`);
    }
    const shards = withShards ? integer(values.shards as string, 'shards', 0, 64) : 0;
    const path = values['ws-path'] as string | undefined;
    if (path !== undefined && values.websocket !== true) throw new Error('--ws-path goes with --websocket');
    if (path !== undefined && !path.startsWith('/')) throw new Error(`--ws-path must start with /, got ${JSON.stringify(path)}`);
    const websocket = values.websocket === true ? { path: path ?? null } : null;
    const keyFile = values['tls-key'] as string | undefined;
    const certFile = values['tls-cert'] as string | undefined;
    if ((keyFile === undefined) !== (certFile === undefined)) throw new Error('--tls-key and --tls-cert go together');
    const tls = keyFile === undefined ? null : { key: readPem(keyFile, 'tls-key'), cert: readPem(certFile!, 'tls-cert') };
    return { port, headerSize, shards, websocket, tls };
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n${usage}\n`);
    process.exit(2);
  }
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`--${flag} ${file}: ${(error as Error).message}`);
  }
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Prints the ready line the harness waits for. */
export function announceListening(port: number): void {
  process.stdout.write(`listening ${port}\n`);
}

/**
 * Runs `close` once on SIGTERM, SIGINT or the loss of the parent's IPC channel, then
 * exits 0 (1 when `close` throws, with the error on stderr). A second signal while
 * closing exits 1 at once.
 */
export function stopOnSignal(name: string, close: () => Promise<void>): void {
  let closing = false;
  const stop = (why: string): void => {
    if (closing) {
      if (why === 'parent gone') return;
      process.stderr.write(`${name}: ${why} again while closing: exiting now\n`);
      process.exit(1);
    }
    closing = true;
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${name}: close failed after ${why}: ${(error as Error)?.stack ?? String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.channel !== undefined) {
    // The channel must not keep the server alive by itself; its loss still stops us.
    process.channel.unref();
    process.on('disconnect', () => stop('parent gone'));
  }
}
