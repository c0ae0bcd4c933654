export { Datagram, PyDatagram, DATAGRAM_MAX_SIZE } from './shared/datagram.js';
export { DatagramIterator, PyDatagramIterator } from './shared/datagram-iterator.js';
export { FrameDecoder, DecodeStatus, type FrameSink, type FrameDecoderOptions } from './shared/frame-decoder.js';
export { encodeFrame, writeFrameHeader, maxPayloadForHeader, type HeaderSize } from './shared/frame-encoder.js';
export { SpscRing, type RecordVisitor } from './shared/protocol/spsc-ring.js';
export type { ResetReason } from './shared/reset-reason.js';
export { Connection, type ConnectionKind } from './main/connection.js';
export { ConnectionWriter } from './main/connection-writer.js';
export { ConnectionGroup } from './main/connection-group.js';
export { ChannelBus, type BusConnection, type BusMessage, type BusSubscription, type ChannelBusOptions } from './main/channel-bus.js';
export { NetAddress } from './main/net-address.js';
export { Interface } from './main/network-interface.js';
export { NetDatagram } from './main/net-datagram.js';
export { PointerToConnection } from './main/pointer-to-connection.js';
export {
  QueuedConnectionManager,
  type QueuedConnectionManagerOptions,
} from './main/queued-connection-manager.js';
export type { ManagerStats } from './main/manager-stats.js';
export type { WaitOptions } from './main/reader-wait.js';
export { QueuedConnectionListener } from './main/queued-connection-listener.js';
export { QueuedConnectionReader, type DatagramVisitor } from './main/queued-connection-reader.js';
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
} from './main/task-manager.js';
