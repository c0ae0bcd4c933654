import { afterEach, describe, expect, it } from 'vitest';
import { START_DEADLINE_MS, exitOf, killPrograms, startProgram as start, type Program } from '../helpers/example-program.js';

afterEach(killPrograms);

async function startServer(args: string[]): Promise<{ server: Program; port: number }> {
  const server = start('panda-server.ts', ['--host', '127.0.0.1', '--port', '0', ...args]);
  const match = await server.waitForLine(/^panda-server listening on 127\.0\.0\.1:(\d+) — /, START_DEADLINE_MS);
  return { server, port: Number(match[1]) };
}

describe('examples/panda-server.ts and panda-client.ts', () => {
  it.each([
    ['reading on the main thread', []],
    ['with 2 worker shards', ['--shards', '2']],
  ])('the client gets its 3 messages back, then both exit 0 (server %s)', async (_, serverArgs) => {
    const { server, port } = await startServer(serverArgs);

    const client = start('panda-client.ts', ['--host', '127.0.0.1', '--port', String(port), '--count', '3', '--interval', '20']);
    const { code: clientCode } = await exitOf(client, START_DEADLINE_MS);
    expect(client.stderr).not.toMatch(/panda-client:/);
    expect(clientCode).toBe(0);
    expect(client.stdout[0]).toBe(`connected to 127.0.0.1:${port}`);
    const received = client.stdout.filter((line) => line.startsWith('received from 127.0.0.1:'));
    expect(received.map((line) => line.replace(/^received from [\d.:]+: /, ''))).toEqual([
      `hello 1/3 from client ${client.child.pid}`,
      `hello 2/3 from client ${client.child.pid}`,
      `hello 3/3 from client ${client.child.pid}`,
    ]);
    expect(client.stdout.at(-1)).toBe('done: 3 messages sent and received back');

    // The server saw the client come, talk and go.
    await server.waitForLine(/^client 127\.0\.0\.1:\d+ left: closed-by-peer \(0 online\)$/);
    expect(server.stdout.filter((line) => /^127\.0\.0\.1:\d+: hello \d\/3/.test(line))).toHaveLength(3);

    server.child.kill('SIGINT');
    const { code } = await exitOf(server);
    expect(code).toBe(0);
    expect(server.stdout.slice(-2)).toEqual(['SIGINT: closing', 'panda-server closed']);
  });

  it('the client exits 1 with a clear message when no server listens', async () => {
    // Find a port nobody listens on: open one, note it, close it.
    const { server, port } = await startServer([]);
    server.child.kill('SIGTERM');
    expect((await exitOf(server)).code).toBe(0);

    const client = start('panda-client.ts', ['--port', String(port), '--count', '1']);
    const { code } = await exitOf(client, START_DEADLINE_MS);
    expect(code).toBe(1);
    expect(client.stderr).toMatch(new RegExp(`panda-client: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('rejects a bad flag with exit code 2', async () => {
    const client = start('panda-client.ts', ['--count', 'many']);
    const { code } = await exitOf(client);
    expect(code).toBe(2);
    expect(client.stderr).toMatch(/--count must be an integer from 0 to 1000000, got "many"/);
  });
});
