import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Target } from '../../core/address.js';
import type { UdpSession } from '../../outbound/types.js';
import { decodeUdpFrame, encodeUdpFrame } from '../../protocol/socks5-codec.js';

/** Datagrams queued beyond this many are dropped, as a congested UDP path would. */
const MAX_QUEUED_MESSAGES = 1024;

/**
 * The `Socks5Udp` method: one gRPC message per datagram, each a SOCKS5 UDP header (RSV=0 from
 * us; the server sets RSV to the payload length) followed by the payload — the framing of the
 * WebSocket `/socks5-udp` route. Works on the object-mode call itself, so message boundaries
 * are never merged or split.
 */
export function openGrpcUdpSession(
  call: ClientDuplexStream<Buffer, Buffer>,
  mapError: (err: Error) => Error,
): UdpSession {
  const messageListeners: ((source: Target, payload: Buffer) => void)[] = [];
  const closeListeners: ((err?: Error) => void)[] = [];
  let lastError: Error | undefined;
  let closed = false;
  const markClosed = () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener(lastError);
  };

  call.on('data', (message: Buffer) => {
    let frame: { target: Target; payload: Buffer };
    try {
      frame = decodeUdpFrame(message);
    } catch {
      return; // a malformed datagram is dropped, like on a real UDP path
    }
    for (const listener of messageListeners) listener(frame.target, frame.payload);
  });
  call.on('error', (err) => {
    lastError = mapError(err);
    markClosed();
  });
  call.once('status', markClosed);

  return {
    send(target, payload) {
      if (closed || call.writableLength >= MAX_QUEUED_MESSAGES) return;
      call.write(encodeUdpFrame({ target, payload }));
    },
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onClose(listener) {
      if (closed) queueMicrotask(() => listener(lastError));
      else closeListeners.push(listener);
    },
    close() {
      if (closed) return;
      call.cancel();
      markClosed();
    },
  };
}
