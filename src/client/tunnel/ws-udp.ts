import type { WebSocket } from 'ws';
import type { Target } from '../../core/address.js';
import type { UdpSession } from '../../outbound/types.js';
import { decodeUdpFrame, encodeUdpFrame } from '../../protocol/socks5-codec.js';

/** Datagrams queued beyond this are dropped, as a congested UDP path would. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The `/socks5-udp` route: one WebSocket message per datagram, each a SOCKS5 UDP header
 * (RSV=0 from us; the server sets RSV to the payload length) followed by the payload.
 */
export function openWsUdpSession(socket: WebSocket): UdpSession {
  const messageListeners: ((source: Target, payload: Buffer) => void)[] = [];
  const closeListeners: ((err?: Error) => void)[] = [];
  let lastError: Error | undefined;

  socket.on('message', (data) => {
    let frame: { target: Target; payload: Buffer };
    try {
      frame = decodeUdpFrame(toBuffer(data));
    } catch {
      return; // a malformed datagram is dropped, like on a real UDP path
    }
    for (const listener of messageListeners) listener(frame.target, frame.payload);
  });
  socket.on('error', (err) => {
    lastError = err;
  });
  socket.once('close', () => {
    for (const listener of closeListeners) listener(lastError);
  });

  return {
    send(target, payload) {
      if (socket.readyState !== socket.OPEN || socket.bufferedAmount > MAX_BUFFERED_BYTES) return;
      socket.send(encodeUdpFrame({ target, payload }), { binary: true });
    },
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    close() {
      socket.close();
    },
  };
}
