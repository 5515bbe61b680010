import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { MessageChannel } from '../../server/routes.js';

/** Datagrams queued beyond this many are dropped, as a full UDP socket buffer would. */
const MAX_QUEUED_MESSAGES = 256;

/**
 * A server-side gRPC bidi call as a datagram channel: one message = one datagram. UDP has no
 * backpressure, so when the peer reads too slowly we drop rather than buffer without bound.
 */
export function serverCallToMessageChannel(call: ServerDuplexStream<Buffer, Buffer>): MessageChannel {
  let closed = false;
  const closeListeners: Array<() => void> = [];
  const markClosed = () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener();
  };
  call.once('cancelled', markClosed);
  call.once('end', markClosed);
  call.once('finish', markClosed);
  call.on('error', markClosed);
  return {
    send(message) {
      if (closed || call.writableLength >= MAX_QUEUED_MESSAGES) return;
      call.write(message);
    },
    onMessage(listener) {
      call.on('data', (message: Buffer) => listener(message));
    },
    onClose(listener) {
      if (closed) queueMicrotask(listener);
      else closeListeners.push(listener);
    },
    close() {
      if (closed) return;
      if (call.cancelled) markClosed();
      else call.end();
      markClosed();
    },
  };
}
