import type { Target } from '../core/address.js';
import type { UdpSession } from './types.js';

/** Datagrams held while the UDP session is still opening; beyond this they are dropped. */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * A UDP session usable at once while the real one opens (a next hop's handshake, a socket bind),
 * so a relay can take its client's first datagrams before `openUdp` resolves instead of losing
 * them.
 */
export function deferredUdpSession(opening: Promise<UdpSession>): UdpSession {
  const messageListeners: ((source: Target, payload: Buffer) => void)[] = [];
  const closeListeners: ((err?: Error) => void)[] = [];
  let queue: { target: Target; payload: Buffer }[] = [];
  let queuedBytes = 0;
  let session: UdpSession | undefined;
  let closed = false;

  const finish = (err?: Error) => {
    if (closed) return;
    closed = true;
    queue = [];
    for (const listener of closeListeners) listener(err);
  };
  opening.then(
    (opened) => {
      if (closed) {
        opened.close();
        return;
      }
      session = opened;
      opened.onMessage((source, payload) => {
        for (const listener of messageListeners) listener(source, payload);
      });
      opened.onClose(finish);
      for (const datagram of queue) opened.send(datagram.target, datagram.payload);
      queue = [];
    },
    (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
  );

  return {
    send(target, payload) {
      if (closed) return;
      if (session) {
        session.send(target, payload);
      } else if (queuedBytes + payload.length <= MAX_QUEUED_BYTES) {
        queue.push({ target, payload });
        queuedBytes += payload.length;
      }
    },
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    close() {
      session?.close();
      finish();
    },
  };
}
