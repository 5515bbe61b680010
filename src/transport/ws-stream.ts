import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import type { MessageChannel } from '../server/routes.js';

/**
 * A WebSocket as a byte stream: every write becomes one binary message, every message
 * (binary or text) is read as bytes. Backpressure follows the socket's buffer in both
 * directions (ws's stream adapter pauses the socket when the readable side is full).
 */
export function wsToDuplex(socket: WebSocket): Duplex {
  return createWebSocketStream(socket, { allowHalfOpen: true });
}

/** A WebSocket as a datagram channel: one message = one datagram, boundaries kept. */
export function wsToMessageChannel(socket: WebSocket): MessageChannel {
  return {
    send(message) {
      if (socket.readyState === socket.OPEN) socket.send(message, { binary: true });
    },
    onMessage(listener) {
      socket.on('message', (data, isBinary) => {
        void isBinary;
        listener(toBuffer(data));
      });
    },
    onClose(listener) {
      socket.once('close', () => listener());
    },
    close() {
      socket.close();
    },
  };
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
