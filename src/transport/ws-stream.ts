import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import type { MessageChannel } from '../server/routes.js';

/**
 * A WebSocket as a byte stream: every write becomes one binary message, every message
 * (binary or text) is read as bytes. Backpressure follows the socket's buffer in both
 * directions (ws's stream adapter pauses the socket when the readable side is full).
 */
export function wsToDuplex(socket: WebSocket): Duplex {
  const duplex = createWebSocketStream(socket, { allowHalfOpen: true });
  // Writes queued together (cork/uncork, or while the previous one was in flight) still become
  // one message each, but reach the kernel in one writev: a small message (a mux frame header)
  // then costs no extra syscall or TCP segment of its own.
  duplex._writev = (chunks, callback) => {
    if (socket.readyState === socket.CONNECTING) {
      socket.once('open', () => duplex._writev!(chunks, callback));
      return;
    }
    sendCorked(
      socket,
      chunks.map(({ chunk }) => chunk as Buffer),
      callback,
    );
  };
  return duplex;
}

/** ws keeps its TCP socket private; corking it is what batches several sends into one write. */
function rawSocket(socket: WebSocket): Socket | undefined {
  return (socket as unknown as { _socket?: Socket | null })._socket ?? undefined;
}

/**
 * Sends each buffer as its own binary message, all in one write to the kernel. `callback` runs
 * once the last one was written (ws reports a failure on the last send as well).
 */
export function sendCorked(
  socket: WebSocket,
  messages: Buffer[],
  callback: (error?: Error | null) => void,
): void {
  const raw = rawSocket(socket);
  raw?.cork();
  const last = messages.length - 1;
  for (let i = 0; i < last; i++) socket.send(messages[i]!, { binary: true });
  socket.send(messages[last]!, { binary: true }, callback);
  raw?.uncork();
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
