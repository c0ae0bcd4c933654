import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { loadFdHelper, socketFd } from '../shared/fd-helper.js';
import { NATIVE_OPTION_BASE, SocketOption } from '../shared/protocol/record-kind.js';

/**
 * Applies one OPTION record to a socket the shard owns. Node sets TCP_NODELAY and
 * keep-alive itself, and a UDP socket's buffer sizes and TTL; the rest (SO_LINGER,
 * SO_REUSEADDR, SO_RCVBUF and SO_SNDBUF on TCP, the TTL of a TCP socket, TCP_MAXSEG) go
 * through the native helper. As in Panda3D, whose setters return nothing, a failure is
 * not reported: the option is simply not set. Returns whether it was set.
 */
export function applySocketOption(socket: Socket | UdpSocket, udp: boolean, option: number, value: number, seconds: number): boolean {
  try {
    if (udp) {
      const dgram = socket as UdpSocket;
      if (!isBound(dgram)) {
        // An adopted descriptor is bound once 'listening' fires; Node refuses options before.
        dgram.once('listening', () => applySocketOption(socket, udp, option, value, seconds));
        return true;
      }
      if (option === SocketOption.RECV_BUFFER) dgram.setRecvBufferSize(value);
      else if (option === SocketOption.SEND_BUFFER) dgram.setSendBufferSize(value);
      // Node sets IP_TTL alone on an adopted IPv6 socket; the helper sets the hop limit too.
      else if (option === SocketOption.TTL && loadFdHelper() === null) dgram.setTTL(value);
      else return setNatively(socket, option, value, seconds);
      return true;
    }
    const tcp = socket as Socket;
    if (option === SocketOption.NO_DELAY) tcp.setNoDelay(value !== 0);
    else if (option === SocketOption.KEEP_ALIVE) tcp.setKeepAlive(value !== 0);
    else return setNatively(socket, option, value, seconds);
    return true;
  } catch {
    return false;
  }
}

function isBound(socket: UdpSocket): boolean {
  try {
    socket.address();
    return true;
  } catch {
    return false;
  }
}

function setNatively(socket: Socket | UdpSocket, option: number, value: number, seconds: number): boolean {
  const helper = loadFdHelper();
  const fd = socketFd(socket);
  if (helper === null || fd < 0) return false;
  helper.setSocketOption(fd, option - NATIVE_OPTION_BASE, value, seconds);
  return true;
}
