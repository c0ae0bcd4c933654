/**
 * The local servers the harness measures (`--compare`, the self-tests): each runs in its
 * own process, started from its compiled script in bench/harness/dist/servers/, so a server
 * never shares a CPU thread or an event loop with the load it is given.
 *
 * | kind           | script                       | transport | what it is                                     |
 * |----------------|------------------------------|-----------|------------------------------------------------|
 * | ringwire-N     | ringwire-echo-server.js      | tcp       | ringwire with N worker shards (0: one thread)   |
 * | plain-net      | plain-net-server.js          | tcp       | single-threaded node:net, frames cut in place   |
 * | ws             | ws-server.js                 | ws        | the `ws` WebSocketServer, binary messages       |
 * | ringwire-ws-N  | ringwire-echo-server.js ²    | ws        | ringwire, a WebSocket rendezvous, N shards      |
 * | faulty         | faulty-server.js             | tcp       | plain-net that drops and swaps (self-tests)     |
 * | ringwire-udp-N | ringwire-udp-echo-server.js  | udp       | a ringwire UDP socket, N shards (0 or 2) ¹      |
 * | plain-udp      | plain-udp-server.js          | udp       | single-threaded node:dgram, checksums verified  |
 *
 * ¹ bound to every interface: ringwire's openUDPConnection(port) cannot bind 127.0.0.1 alone.
 * ² with `--websocket` and a 4-byte header size whatever the run's: over WebSocket the header
 *   size only bounds the datagram size (4: the harness's largest payload fits).
 *
 * A server prints `listening <port>` when it is ready; {@link startTarget} waits for that
 * line (at most START_TIMEOUT_MS) and {@link RunningTarget.stop} ends it with SIGTERM
 * (SIGKILL after STOP_TIMEOUT_MS). A server whose parent dies stops by itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TargetKind, Transport } from './report.js';

/** A local server, started and ready. */
export interface RunningTarget {
  kind: TargetKind;
  /** The kind, as reports name the target. */
  name: string;
  host: string;
  port: number;
  /** The server's process id (for its RSS), or null when unknown. */
  pid: number | null;
  /** 'ws' for the WebSocket server (binary messages), 'udp' for the UDP servers, 'tcp' (Panda3D framing) otherwise. */
  transport: Transport;
  /**
   * Ends the server: SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS.
   * Resolves once the process is gone; rejects (after it is gone) when it did not exit
   * cleanly: a non-zero exit code, a signal, or the SIGKILL. Safe to call twice.
   */
  stop(): Promise<void>;
}

/** Every kind but 'external': the servers this module can start. */
export type LocalTargetKind = Exclude<TargetKind, 'external'>;

/** How long a server may take to print `listening <port>` (ms). */
const START_TIMEOUT_MS = 15_000;
/** How long a server may take to exit after SIGTERM before it is killed (ms). */
const STOP_TIMEOUT_MS = 15_000;
/** Characters of a server's stderr kept for error messages. */
const STDERR_KEPT = 8192;
const HOST = '127.0.0.1';

interface ServerSpec {
  script: string;
  args: string[];
  transport: Transport;
  /** The header size the server is started with whatever the run's (the WebSocket ringwire servers). */
  headerSize?: 4;
}

function serverSpec(kind: LocalTargetKind): ServerSpec {
  switch (kind) {
    case 'ringwire-0':
    case 'ringwire-1':
    case 'ringwire-2':
      return { script: 'ringwire-echo-server.js', args: ['--shards', kind.slice('ringwire-'.length)], transport: 'tcp' };
    case 'plain-net':
      return { script: 'plain-net-server.js', args: [], transport: 'tcp' };
    case 'ws':
      return { script: 'ws-server.js', args: [], transport: 'ws' };
    case 'ringwire-ws-0':
    case 'ringwire-ws-2':
      return { script: 'ringwire-echo-server.js', args: ['--shards', kind.slice('ringwire-ws-'.length), '--websocket'], transport: 'ws', headerSize: 4 };
    case 'faulty':
      return { script: 'faulty-server.js', args: [], transport: 'tcp' };
    case 'ringwire-udp-0':
    case 'ringwire-udp-2':
      return { script: 'ringwire-udp-echo-server.js', args: ['--shards', kind.slice('ringwire-udp-'.length)], transport: 'udp' };
    case 'plain-udp':
      return { script: 'plain-udp-server.js', args: [], transport: 'udp' };
    default:
      throw new TypeError(`startTarget: unknown target kind ${JSON.stringify(kind)}`);
  }
}

/** The transport a server of `kind` speaks. Throws a TypeError for an unknown kind. */
export function targetTransport(kind: LocalTargetKind): Transport {
  return serverSpec(kind).transport;
}

/**
 * The compiled server script. From the TypeScript sources (vitest) this is still the
 * compiled file in bench/harness/dist/servers/: a server runs with plain `node`.
 */
function serverPath(script: string): string {
  const base = import.meta.url.endsWith('.ts') ? './dist/servers/' : './servers/';
  const path = fileURLToPath(new URL(base + script, import.meta.url));
  if (!existsSync(path)) {
    throw new Error(`startTarget: the server script ${path} does not exist: run npm run build`);
  }
  return path;
}

/** Children not stopped yet: killed if this process exits first. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLeftovers(): void {
  for (const child of live) child.kill('SIGKILL');
}

/**
 * Starts the server of `kind` on 127.0.0.1 and an ephemeral port, speaking `headerSize`
 * (ignored by the WebSocket and UDP servers), and resolves once it accepts clients. Rejects, with
 * the server's stderr, when it exits or stays silent for START_TIMEOUT_MS; throws when
 * the server scripts are not built. `serverArgs` go to the server's command line after its
 * own (ringwire's TCP echo server takes `--tls-key FILE --tls-cert FILE` and `--ws-path /P`).
 */
export async function startTarget(kind: LocalTargetKind, options: { headerSize: 0 | 2 | 4; serverArgs?: readonly string[] }): Promise<RunningTarget> {
  const spec = serverSpec(kind);
  const headerSize = options.headerSize;
  if (headerSize !== 0 && headerSize !== 2 && headerSize !== 4) {
    throw new RangeError(`startTarget: headerSize must be 0, 2 or 4, got ${String(headerSize)}`);
  }
  const script = serverPath(spec.script);
  const child = spawn(process.execPath, [script, '--port', '0', '--header-size', String(spec.headerSize ?? headerSize), ...spec.args, ...(options.serverArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killLeftovers);
  }
  // The IPC channel only tells the server when we die; it must not keep us alive.
  child.channel?.unref();

  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEPT);
  });
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  const exited = new Promise<void>((resolve) => {
    // 'close', not 'exit': by then its stderr has been read to the end.
    child.once('close', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      live.delete(child);
      resolve();
    });
    // A process that could not be spawned emits 'error' and never 'exit'.
    child.once('error', () => {
      live.delete(child);
      resolve();
    });
  });
  const describeStderr = (): string => (stderr.trim() === '' ? '(no stderr)' : `stderr:\n${stderr.trim()}`);
  const describeExit = (): string =>
    `${exitSignal !== null ? `signal ${exitSignal}` : `code ${String(exitCode)}`}; ${describeStderr()}`;

  let port: number;
  try {
    port = await waitForPort(child, exited, kind, describeExit, describeStderr);
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw error;
  }

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const alreadyExited = child.exitCode !== null || child.signalCode !== null;
      let killed = false;
      if (!alreadyExited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      await exited;
      if (killed) throw new Error(`${kind} server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM and was killed; ${describeExit()}`);
      if (exitCode !== 0) {
        throw new Error(`${kind} server ${alreadyExited ? 'had already exited' : 'did not exit cleanly on SIGTERM'}: ${describeExit()}`);
      }
    })();
    return stopping;
  };

  return { kind, name: kind, host: HOST, port, pid: child.pid ?? null, transport: spec.transport, stop };
}

/** Resolves the port of the server's `listening <port>` line. */
function waitForPort(
  child: ChildProcess,
  exited: Promise<void>,
  kind: string,
  describeExit: () => string,
  describeStderr: () => string,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let stdout = '';
    let settled = false;
    const settle = (error: Error | null, port = 0): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Keep reading stdout, so a chatty server can never block on a full pipe.
      child.stdout!.removeListener('data', onData);
      child.stdout!.resume();
      if (error !== null) reject(error);
      else resolve(port);
    };
    const onData = (text: string): void => {
      stdout += text;
      const newline = stdout.indexOf('\n');
      if (newline < 0) {
        if (stdout.length > 4096) settle(new Error(`${kind} server: no 'listening <port>' line in its first 4 KiB of stdout`));
        return;
      }
      const line = stdout.slice(0, newline).trim();
      const match = /^listening (\d+)$/.exec(line);
      if (match === null) {
        settle(new Error(`${kind} server: expected 'listening <port>' on stdout, got ${JSON.stringify(line)}`));
        return;
      }
      settle(null, Number(match[1]));
    };
    const timer = setTimeout(() => {
      settle(new Error(`${kind} server did not print 'listening <port>' within ${START_TIMEOUT_MS} ms; ${describeStderr()}`));
    }, START_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
    void exited.then(() => settle(new Error(`${kind} server exited before it was ready: ${describeExit()}`)));
    child.once('error', (error) => settle(new Error(`${kind} server could not be started: ${error.message}`)));
  });
}
