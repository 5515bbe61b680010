import type { Duplex } from 'node:stream';
import type { Target } from '../core/address.js';
import { abortOnClose } from './stream-util.js';
import type { ProxyHandlerContext } from './types.js';

/**
 * Dials `target` for the app behind `client` with the handler's dial timeout and Tor flag,
 * cancelled if the app goes away meanwhile. Resolves with the upstream, or undefined when the
 * app left during the dial (the late upstream is destroyed); rejects when the dial fails.
 */
export async function dialForClient(
  client: Duplex,
  target: Target,
  ctx: ProxyHandlerContext,
  firstBytes?: Buffer,
): Promise<Duplex | undefined> {
  const abort = abortOnClose(client);
  let upstream: Duplex;
  try {
    upstream = await ctx.outbound.dial(target, {
      timeoutMs: ctx.timeouts.dialMs,
      onion: ctx.onion,
      signal: abort.signal,
      firstBytes: firstBytes && firstBytes.length > 0 ? firstBytes : undefined,
    });
  } finally {
    abort.dispose();
  }
  upstream.on('error', () => {});
  if (client.destroyed) {
    upstream.destroy();
    return undefined;
  }
  return upstream;
}
