import type { Socket } from 'node:net';

/** Every HTTP/2 connection opens with this (RFC 9113 §3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type SniffedProtocol = 'http2' | 'http1' | 'unknown';

/** `GET /x HTTP/1.1` and friends: a method token then a space. */
const HTTP1_REQUEST_START = /^[A-Z]{3,10} /;

export function classifyOpening(bytes: Buffer): SniffedProtocol | 'need-more' {
  const head = bytes.subarray(0, HTTP2_PREFACE.length);
  if (HTTP2_PREFACE.subarray(0, head.length).equals(head)) {
    return head.length === HTTP2_PREFACE.length ? 'http2' : 'need-more';
  }
  const text = bytes.subarray(0, 12).toString('latin1');
  if (HTTP1_REQUEST_START.test(text)) return 'http1';
  return bytes.length < 12 && /^[A-Z]+$/.test(text) ? 'need-more' : 'unknown';
}

/**
 * Reads the opening bytes of a connection and puts them back (unshift), so the consumer the
 * socket is handed to next sees an untouched stream. Resolves 'unknown' on timeout or close.
 */
export function sniffConnection(
  socket: Socket,
  timeoutMs: number,
): Promise<{ protocol: SniffedProtocol; opening: Buffer }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let settled = false;
    const finish = (protocol: SniffedProtocol) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      const opening = Buffer.concat(parts);
      if (opening.length > 0) socket.unshift(opening);
      resolve({ protocol, opening });
    };
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      const verdict = classifyOpening(Buffer.concat(parts));
      if (verdict !== 'need-more') finish(verdict);
    };
    const onClose = () => finish('unknown');
    const timer = setTimeout(() => finish('unknown'), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
