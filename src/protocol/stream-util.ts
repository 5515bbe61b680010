import { createHash, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';

/** How long an app gets to read a final error reply before the stream is torn down. */
const LINGER_MS = 2_000;

/** Writes a last message, ends the stream and makes sure it is destroyed even if the peer lingers. */
export function endWith(stream: Duplex, data?: Buffer | string): void {
  if (stream.destroyed) return;
  if (stream.writableEnded) {
    stream.destroy();
    return;
  }
  stream.end(data);
  setTimeout(() => stream.destroy(), LINGER_MS).unref();
}

/** Constant-time equality for secrets of any length (both sides hashed to a fixed size first). */
export function secretEquals(a: Buffer | string, b: Buffer | string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Resolves when the stream is closed (immediately if it already is). */
export function whenClosed(stream: Duplex): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

/** An AbortSignal that fires when `stream` closes, e.g. to cancel a dial the app gave up on. */
export function abortOnClose(stream: Duplex): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onClose = () => controller.abort();
  stream.once('close', onClose);
  if (stream.destroyed) controller.abort();
  return { signal: controller.signal, dispose: () => stream.off('close', onClose) };
}

/** The local end of a dialed stream when it is a socket; tunnels have none. */
export function localAddressOf(stream: Duplex): { host: string; port: number } | undefined {
  const socket = stream as Duplex & { localAddress?: string; localPort?: number };
  if (typeof socket.localAddress === 'string' && typeof socket.localPort === 'number')
    return { host: socket.localAddress.replace(/^::ffff:(?=\d+\.)/, ''), port: socket.localPort };
  return undefined;
}
