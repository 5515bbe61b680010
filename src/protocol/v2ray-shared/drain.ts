import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';

/** Bounds of the silent wait after a failed handshake. */
export const DRAIN_MIN_MS = 1_000;
export const DRAIN_MAX_MS = 4_000;

/**
 * Answers a failed handshake (unknown user, bad MAC, replay) the way v2ray does: read and
 * discard whatever arrives for a random short while, then close, so a prober learns nothing
 * from timing or from an error reply. Resolves once the stream is closed.
 */
export function drainAndClose(
  stream: Duplex,
  limits = { minMs: DRAIN_MIN_MS, maxMs: DRAIN_MAX_MS },
): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) {
      resolve();
      return;
    }
    const discard = () => {};
    stream.on('data', discard);
    stream.on('error', discard);
    stream.resume();
    const timer = setTimeout(() => stream.destroy(), randomInt(limits.minMs, limits.maxMs + 1));
    stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
