export { Datagram, PyDatagram, DATAGRAM_MAX_SIZE } from './shared/datagram.js';
export { DatagramIterator, PyDatagramIterator } from './shared/datagram-iterator.js';
export { FrameDecoder, DecodeStatus, type FrameSink, type FrameDecoderOptions } from './shared/frame-decoder.js';
export { encodeFrame, writeFrameHeader, maxPayloadForHeader, type HeaderSize } from './shared/frame-encoder.js';
export { SpscRing, type RecordVisitor } from './shared/protocol/spsc-ring.js';
export type { ResetReason } from './shared/reset-reason.js';
export { ErrorCode, RingwireError, RingwireTypeError, RingwireRangeError } from './shared/errors.js';
export { Connection, type ConnectionKind } from './main/api/connection.js';
export { ConnectionWriter } from './main/api/connection-writer.js';
export { ConnectionGroup } from './main/api/connection-group.js';
export { ChannelBus, type BusConnection, type BusMessage, type BusSubscription, type ChannelBusOptions } from './main/api/channel-bus.js';
export { NetAddress } from './main/api/net-address.js';
export { Interface } from './main/api/network-interface.js';
export { NetDatagram } from './main/api/net-datagram.js';
export { PointerToConnection } from './main/api/pointer-to-connection.js';
export { QueuedConnectionManager, type QueuedConnectionManagerOptions } from './main/api/queued-connection-manager.js';
export type { ManagerStats, ShardStats, ShardStateName } from './main/core/manager-stats.js';
export type { WaitOptions } from './main/core/reader-wait.js';
export type {
  ClientConnectionOptions,
  RendezvousOptions,
  TlsClientOptions,
  TlsServerOptions,
  WebSocketClientOptions,
  WebSocketServerOptions,
} from './main/core/transport-options.js';
export { QueuedConnectionListener } from './main/api/queued-connection-listener.js';
export { QueuedConnectionReader, type DatagramVisitor } from './main/api/queued-connection-reader.js';
export {
  TaskManager,
  Task,
  type TaskFunction,
  type TaskStatus,
  type TaskOptions,
  type TaskManagerOptions,
  type FrameStats,
  type RunOptions,
  type ReaderWaiter,
} from './main/api/task-manager.js';
