import { toSeamoonError } from '../core/errors.js';
import { handleHttpProxy } from './http-proxy.js';
import { handleSocks5 } from './socks5.js';
import { SOCKS_VERSION } from './socks5-codec.js';
import { StreamReader } from './stream-reader.js';
import type { ProxyHandler } from './types.js';

/** One port, two protocols: a first byte of 0x05 is SOCKS5, anything else is HTTP. Nothing is consumed. */
export const handleAuto: ProxyHandler = async (client, ctx) => {
  client.on('error', () => {});
  const reader = new StreamReader(client, { timeoutMs: ctx.timeouts.handshakeMs });
  let first: number;
  try {
    [first] = await reader.peek(1);
  } catch (err) {
    ctx.log.debug({ err: toSeamoonError(err).message }, 'no first byte');
    reader.release();
    client.destroy();
    return;
  }
  reader.release();
  await (first === SOCKS_VERSION ? handleSocks5(client, ctx) : handleHttpProxy(client, ctx));
};
