/**
 * The channel bus across processes (issue #14, points 3 and 4), with a real nats-server
 * and two ringwire processes (examples/bus-chat-server.ts) with clients on each: a publish
 * reaches every subscriber in both processes once; a process holds one NATS subscription
 * per channel; a process that dies loses only its own clients; the bus reconnects and
 * subscribes again when nats-server restarts. Without nats-server the tests fail and say
 * how to install it (.ci/run does).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram, DatagramIterator } from '../../src/index.js';
import { START_DEADLINE_MS, exitOf, killPrograms, startProgram, type Program } from '../helpers/example-program.js';
import { Peer, closeAll, expectNothingFor, frame, pollUntil } from '../helpers/net-harness.js';
import { type Nats, startNats, stopNatsServers } from '../helpers/nats-server.js';

const Op = { JOIN: 1, LEAVE: 2, SAY: 3 } as const;

afterEach(async () => {
  await closeAll();
  await killPrograms();
  await stopNatsServers();
});

async function startChat(nats: Nats): Promise<{ program: Program; port: number; pid: number }> {
  const program = startProgram('bus-chat-server.ts', ['--host', '127.0.0.1', '--port', '0', '--shards', '1', '--nats', `nats://127.0.0.1:${nats.port}`]);
  const ready = await program.waitForLine(/^ringwire chat on 127\.0\.0\.1:(\d+) — bus .*, pid (\d+)$/, START_DEADLINE_MS);
  return { program, port: Number(ready[1]), pid: Number(ready[2]) };
}

/** A chat client: a plain TCP peer that speaks the example's datagrams. */
class ChatClient {
  private constructor(readonly peer: Peer) {}

  static async connect(port: number): Promise<ChatClient> {
    return new ChatClient(await Peer.connect(port));
  }

  async request(op: number, channel: string, text?: string): Promise<void> {
    const dg = new Datagram();
    dg.addUint8(op);
    dg.addString(channel);
    if (text !== undefined) dg.addString(text);
    await this.peer.write(frame(dg.getMessage()));
  }

  /** The lines received so far: `channel|speaker|text`. */
  lines(): string[] {
    return this.peer.frames.map((payload) => {
      const it = new DatagramIterator(new Datagram(payload));
      return `${it.getString()}|${it.getString()}|${it.getString()}`;
    });
  }

  texts(): string[] {
    return this.lines().map((l) => l.split('|')[2]);
  }
}

/**
 * Polls an async condition until it holds, every 20 ms, up to `timeoutMs` (pollUntil
 * takes synchronous ones: a promise would count as truthy at once).
 */
async function pollAsync(fn: () => Promise<boolean>, options: { timeoutMs: number; label: string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`pollAsync: timed out after ${options.timeoutMs} ms waiting for ${options.label}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Joins each client to `channel` and waits until the server has surely taken it. */
async function joinAll(clients: ChatClient[], channel: string, probeBy: ChatClient): Promise<void> {
  for (const client of clients) await client.request(Op.JOIN, channel);
  // A probe said in the channel by a member comes back to it once its join is in.
  const probe = `probe ${channel} ${Math.random()}`;
  // Said once more every 20 ms until every client has it: a say before all the joins are
  // in reaches only some, so the count of probes a client got is not checked.
  await pollAsync(
    async () => {
      if (clients.every((c) => c.texts().includes(probe))) return true;
      await probeBy.request(Op.SAY, channel, probe);
      return false;
    },
    { timeoutMs: 10_000, label: `every client in ${channel}` },
  );
}

/** The subjects each NATS client connection has subscribed, from nats-server's monitor. */
async function subscriptions(nats: Nats): Promise<string[][]> {
  const response = await fetch(`http://127.0.0.1:${nats.monitor}/connz?subs=1`);
  const body = (await response.json()) as { connections?: { subscriptions_list?: string[] }[] };
  return (body.connections ?? []).map((c) => [...(c.subscriptions_list ?? [])].sort());
}

describe('ChannelBus across two processes, over a real nats-server', () => {
  it('a publish reaches every subscriber in both processes once, and each process subscribes once per channel', async () => {
    const nats = await startNats();
    const a = await startChat(nats);
    const b = await startChat(nats);
    const onA = await Promise.all([0, 1, 2].map(() => ChatClient.connect(a.port)));
    const onB = await Promise.all([0, 1, 2].map(() => ChatClient.connect(b.port)));
    const elsewhere = await ChatClient.connect(b.port);
    await elsewhere.request(Op.JOIN, 'room.2');
    await joinAll([...onA, ...onB], 'room.1', onA[0]);
    // Wait for B's subscription to room.2 to be in before counting.
    await pollAsync(async () => (await subscriptions(nats)).some((subs) => subs.includes('chat.room.2')), { timeoutMs: 10_000, label: 'room.2 subscribed' });
    expect((await subscriptions(nats)).sort((x, y) => x.length - y.length)).toEqual([['chat.room.1'], ['chat.room.1', 'chat.room.2']]);

    for (let i = 0; i < 20; i++) await (i % 2 === 0 ? onA[1] : onB[2]).request(Op.SAY, 'room.1', `line ${i}`);
    const expected = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const said = (c: ChatClient): string[] => c.texts().filter((t) => t.startsWith('line '));
    await pollUntil(() => [...onA, ...onB].every((c) => said(c).length >= 20), { timeoutMs: 10_000, label: 'every line at every member' });
    await expectNothingFor(300, () => [...onA, ...onB].some((c) => said(c).length > 20) || elsewhere.texts().length > 0, 'a duplicate or a stray line');
    for (const client of [...onA, ...onB]) {
      // Once each; each publisher's lines in its order (the two publishers may interleave).
      expect([...said(client)].sort()).toEqual([...expected].sort());
      expect(said(client).filter((t) => Number(t.slice(5)) % 2 === 0)).toEqual(expected.filter((_, i) => i % 2 === 0));
      expect(said(client).filter((t) => Number(t.slice(5)) % 2 === 1)).toEqual(expected.filter((_, i) => i % 2 === 1));
    }
    expect(onA[0].lines().find((l) => l.endsWith('|line 0'))).toMatch(new RegExp(`^room\\.1\\|${a.pid}#\\d+\\|line 0$`));

    // Leaving, and closing, drop the subscriptions once the last member of a process goes.
    await elsewhere.peer.close();
    for (const client of onB) await client.request(Op.LEAVE, 'room.1');
    await pollAsync(async () => (await subscriptions(nats)).sort((x, y) => x.length - y.length).join(';') === ';chat.room.1', {
      timeoutMs: 10_000,
      label: 'B subscribed to nothing, A to room.1',
    });
  });

  it('a process that dies loses only its own clients; the other goes on', async () => {
    const nats = await startNats();
    const a = await startChat(nats);
    const b = await startChat(nats);
    const onA = await Promise.all([0, 1].map(() => ChatClient.connect(a.port)));
    const onB = await Promise.all([0, 1].map(() => ChatClient.connect(b.port)));
    await joinAll([...onA, ...onB], 'room.9', onB[0]);
    process.kill(a.pid, 'SIGKILL');
    await pollUntil(() => onA.every((c) => c.peer.closed), { timeoutMs: 10_000, label: "A's clients closed" });
    expect(onB.every((c) => !c.peer.closed)).toBe(true);
    await onB[1].request(Op.SAY, 'room.9', 'after A died');
    await pollUntil(() => onB.every((c) => c.texts().includes('after A died')), { timeoutMs: 10_000, label: "B's clients served" });
    b.program.child.kill('SIGINT');
    expect((await exitOf(b.program)).code).toBe(0);
  });

  it('the bus reconnects and subscribes again when nats-server restarts', async () => {
    const first = await startNats();
    const a = await startChat(first);
    const b = await startChat(first);
    const onA = await ChatClient.connect(a.port);
    const onB = await ChatClient.connect(b.port);
    await joinAll([onA, onB], 'room.3', onA);
    const { port, monitor } = first;
    await first.stop();
    await a.program.waitForLine(/^bus disconnect$/, 10_000);
    await b.program.waitForLine(/^bus disconnect$/, 10_000);
    const second = await startNats(port, monitor);
    const reconnected = (p: Program): boolean => p.stdout.includes('bus reconnect');
    await pollUntil(() => reconnected(a.program) && reconnected(b.program), { timeoutMs: 15_000, label: 'both buses reconnected' });
    await pollAsync(async () => (await subscriptions(second)).filter((subs) => subs.includes('chat.room.3')).length === 2, {
      timeoutMs: 10_000,
      label: 'both processes subscribed again',
    });
    await onA.request(Op.SAY, 'room.3', 'after the restart');
    await pollUntil(() => onB.texts().includes('after the restart'), { timeoutMs: 10_000, label: 'the line across processes' });
    const count = (c: ChatClient): number => c.texts().filter((t) => t === 'after the restart').length;
    await expectNothingFor(300, () => count(onA) > 1 || count(onB) > 1, 'the line twice');
    expect([count(onA), count(onB)]).toEqual([1, 1]);
  });
});
