// Prometheus metrics for the game server: the README's "Metrics for Prometheus", as a file
// (examples/game-server.ts serves them when METRICS_PORT is set; a test scrapes them).
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { QueuedConnectionManager, TaskManager } from 'ringwire';
import { registerMetrics } from 'ringwire/metrics';

/** Serves GET /metrics on `host`:`port` ('0.0.0.0' for a Prometheus on another machine). */
export function serveGameMetrics(manager: QueuedConnectionManager, taskMgr: TaskManager, port: number, host = '127.0.0.1'): Server {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry }); // process_cpu_seconds_total, process_resident_memory_bytes, …
  registerMetrics(manager, { registry }); // the network: ringwire_connections_open, ringwire_datagrams_received_total, …
  registerMetrics(taskMgr, { registry }); // the loop: ringwire_tick_duration_seconds, ringwire_frame_rate, …
  // Every value is read here, at the scrape: the datagram path and the frame pay nothing.
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  server.listen(port, host, () => console.log(`metrics on http://${host}:${port}/metrics`));
  return server;
}
