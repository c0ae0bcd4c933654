/**
 * A client's TLS options are read at each open: the shards keep one TLS context per
 * distinct content of the options (so many bots sharing one object share one context), and
 * an object changed between two opens — a CA added, or taken away — counts for the second.
 * A ringwire TLS rendezvous with a test CA's certificate, single-thread mode and 2 shards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { Connection } from '../../src/main/api/connection.js';
import type { TlsClientOptions } from '../../src/main/core/transport-options.js';
import { HOST, closeAll, pollUntil, startClient, startServer, type TestClient, type TestServer } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';

afterEach(closeAll);

const certs = testCertificates();

async function tlsServer(n: number): Promise<{ server: TestServer; port: number }> {
  const server = await startServer(n);
  const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 16, { tls: { key: certs.servers[0].key, cert: certs.servers[0].cert } });
  server.listener.addConnection(rendezvous!);
  return { server, port: rendezvous!.getAddress().getPort() };
}

/** Opens with `tls` and resolves how it went: an echo back ('echoed'), or the reset's reason. */
async function outcome(server: TestServer, client: TestClient, port: number, tls: TlsClientOptions): Promise<string> {
  const conn: Connection = await client.manager.connectTCP(HOST, port, 5000, { tls });
  client.reader.addConnection(conn);
  await server.accept();
  const dg = new Datagram();
  dg.addUint32(42);
  client.writer.send(dg, conn);
  const got = new NetDatagram();
  const reset = new PointerToConnection();
  const result = await pollUntil(
    () => {
      while (server.reader.getData(got)) server.writer.send(got, got.getConnection()!);
      if (client.reader.getData(got)) return 'echoed';
      if (client.manager.getResetConnection(reset)) return `reset ${String(reset.p()!.getResetReason())}`;
      return null;
    },
    { label: 'an echo or a reset' },
  );
  client.manager.closeConnection(conn);
  return result;
}

describe.each([0, 2])('client TLS options (numThreads %i)', (n) => {
  it('an options object that gains the CA between two opens verifies the second', async () => {
    const { server, port } = await tlsServer(n);
    const client = startClient(n);
    const options: TlsClientOptions = {};
    expect(await outcome(server, client, port, options)).toBe('reset handshake-failed');
    options.ca = certs.ca;
    expect(await outcome(server, client, port, options)).toBe('echoed');
  });

  it('one that loses it fails the second, and another object with the same content shares the result', async () => {
    const { server, port } = await tlsServer(n);
    const client = startClient(n);
    const options: TlsClientOptions = { ca: certs.ca };
    expect(await outcome(server, client, port, options)).toBe('echoed');
    expect(await outcome(server, client, port, { ca: certs.ca })).toBe('echoed');
    delete options.ca;
    expect(await outcome(server, client, port, options)).toBe('reset handshake-failed');
    expect(client.manager.getStats().tlsHandshakeFailures).toBe(1);
  });
});
