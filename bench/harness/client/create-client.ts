import type { RunSettings } from '../report.js';
import type { ClientSink, ClientTransport } from './client-transport.js';
import { TcpClient } from './tcp-client.js';
import { UdpClient } from './udp-client.js';
import { WsClient } from './ws-client.js';

/** The client `settings.transport` names, aimed at `settings.host`:`settings.port`. */
export function createClient(settings: RunSettings, sink: ClientSink): ClientTransport {
  if (settings.transport === 'ws') {
    return new WsClient({ host: settings.host, port: settings.port, connections: settings.connections }, sink);
  }
  if (settings.transport === 'udp') {
    return new UdpClient(
      { host: settings.host, port: settings.port, clientShards: settings.clientShards, connections: settings.connections },
      sink,
    );
  }
  return new TcpClient(
    {
      host: settings.host,
      port: settings.port,
      headerSize: settings.headerSize,
      clientShards: settings.clientShards,
      connections: settings.connections,
    },
    sink,
  );
}
