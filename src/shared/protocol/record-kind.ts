/**
 * The kinds of ring record (ring-layout.ts draws the record header).
 *
 * Inbound ring (shard → main):
 *   DATA    one datagram's payload for connectionId
 *   OPENED  the shard has adopted connectionId (payload empty)
 *   CLOSED  connectionId is over for the main thread; aux = its ResetReasonCode. Always
 *           after its last DATA. The main thread answers with RELEASE.
 *   UDP_DATA  one UDP datagram: the sender's address (udp-framing.ts) then the payload
 *   DATA_FRAMES  several whole datagrams of connectionId as they came on the wire, each
 *            behind its length header; aux = the header size (2 or 4). A shard sends a run
 *            of frames that lay in one socket chunk this way: one copy instead of one each.
 *   DATA_LARGE  one part of a datagram of connectionId too large for one record, in order
 *            and with nothing else of that connection between the parts (other connections'
 *            records may come between); aux bit 0: the first part, whose payload starts
 *            with the datagram's u32 LE length; aux bit 1: the last part
 *
 * Outbound ring (main → shard):
 *   ADOPT     take connectionId: payload is its fd (read-record.ts); aux = AdoptKind
 *   SEND      write payload (already framed) to connectionId's socket; aux = 1 for a later
 *             part of a datagram larger than a record (its first part, aux 0, counts it)
 *   READ      start (aux = 1) or stop (aux = 0) reading connectionId
 *   CLOSE     aux = 0: write connectionId's pending bytes, then FIN (closeConnection);
 *             aux = a ResetReasonCode: cut it at once with RST (the writer's hard limits)
 *   RELEASE   the main thread has handled connectionId's CLOSED: no SEND for it follows,
 *             so a peer that half-closed gets our FIN once its replies are written
 *   OPTION    set a socket option: aux = SocketOption, payload i32 LE value, i32 LE seconds
 *   SHUTDOWN  flush and close every connection, then end the shard (connectionId 0);
 *             payload: f64 LE, the Date.now() time by which lingering connections are cut
 *   SEND_TO   send one UDP packet (already framed): destination address then bytes
 *   BROADCAST write one framed datagram to many connections (connectionId 0):
 *             u32 LE count, count × u32 LE connection ids, then the frame (header and payload)
 *   SEND_TO_MANY  send one UDP packet (already framed) from connectionId to many addresses:
 *             u32 LE count, count addresses (udp-framing.ts), then the packet
 */
export const RecordKind = {
  DATA: 1,
  OPENED: 2,
  CLOSED: 3,
  UDP_DATA: 4,
  DATA_FRAMES: 5,
  DATA_LARGE: 6,
  ADOPT: 16,
  SEND: 17,
  READ: 18,
  CLOSE: 19,
  OPTION: 20,
  SHUTDOWN: 21,
  SEND_TO: 22,
  RELEASE: 23,
  BROADCAST: 24,
  SEND_TO_MANY: 25,
} as const;

/** DATA_LARGE aux bits. */
export const LargePart = {
  FIRST: 1,
  LAST: 2,
} as const;

/** What an ADOPT record hands over (its aux byte): TCP (0), or UDP with flags. */
export const AdoptKind = {
  TCP: 0,
  UDP: 1,
  /** With UDP: the socket may send to broadcast addresses. */
  BROADCAST: 2,
  /** With UDP: an IPv6 socket. */
  IPV6: 4,
} as const;

/**
 * The socket options an OPTION record sets (its aux byte); its payload is i32 LE value then
 * i32 LE seconds (SO_LINGER's). From LINGER on, the native helper's setSocketOption takes
 * the code minus {@link NATIVE_OPTION_BASE}.
 */
export const SocketOption = {
  NO_DELAY: 1,
  KEEP_ALIVE: 2,
  LINGER: 3,
  REUSE_ADDR: 4,
  RECV_BUFFER: 5,
  SEND_BUFFER: 6,
  TTL: 7,
  MAX_SEGMENT: 8,
} as const;

/** SocketOption code − this = the native helper's option number. */
export const NATIVE_OPTION_BASE = 2;
