import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatTarget, type Target } from '../core/address.js';
import { SeamoonError, toSeamoonError } from '../core/errors.js';
import { socks5Connect } from '../protocol/socks5-client.js';
import type { DialOptions, Outbound } from './types.js';

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
/**
 * Building a circuit (and finding an onion service) often takes longer than an ordinary dial.
 * Tor answers every CONNECT within its own SocksTimeout (2 minutes by default), so we wait for
 * Tor's verdict instead of cutting it short with the ordinary dial timeout.
 */
const TOR_REPLY_TIMEOUT_MS = 120_000;

export interface TorOutboundOptions {
  /** Tor's SOCKS port (`SocksPort`), normally 127.0.0.1:9050. */
  socks: Target;
}

/** `.onion` names are only reachable through Tor (RFC 7686); everything else stays off it. */
export function isOnionHost(host: string): boolean {
  return /\.onion\.?$/i.test(host);
}

/**
 * Reaches targets through Tor's SOCKS5 port. The target's reply from Tor (success, or Tor's own
 * failure code: host unreachable, TTL expired, ...) becomes our result, so a SOCKS client of the
 * tunnel sees what Tor said rather than a generic failure.
 */
export function createTorOutbound(options: TorOutboundOptions): Outbound {
  const where = formatTarget(options.socks);
  return {
    name: `tor:${where}`,
    async dial(target: Target, dialOptions: DialOptions = {}): Promise<Duplex> {
      const timeoutMs = dialOptions.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
      const socket = await connectToTor(options.socks, where, timeoutMs, dialOptions.signal);
      const onAbort = () => socket.destroy(new SeamoonError('CLOSED', 'dial aborted'));
      dialOptions.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await socks5Connect(socket, target, { timeoutMs: Math.max(timeoutMs, TOR_REPLY_TIMEOUT_MS) });
      } catch (err) {
        socket.destroy();
        if (dialOptions.signal?.aborted) throw new SeamoonError('CLOSED', 'dial aborted');
        const error = toSeamoonError(err);
        if (error.code === 'HANDSHAKE_TIMEOUT') {
          throw new SeamoonError('DIAL_TIMEOUT', `Tor did not answer the CONNECT to ${target.host}`, {
            cause: err,
          });
        }
        throw error;
      } finally {
        dialOptions.signal?.removeEventListener('abort', onAbort);
      }
      if (dialOptions.firstBytes && dialOptions.firstBytes.length > 0) socket.write(dialOptions.firstBytes);
      return socket;
    },
  };
}

function connectToTor(
  socks: Target,
  where: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new SeamoonError('CLOSED', 'dial aborted'));
      return;
    }
    const socket = connect({ host: socks.host, port: socks.port });
    const timer = setTimeout(
      () =>
        fail(new SeamoonError('DIAL_TIMEOUT', `Tor SOCKS port ${where} did not answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => fail(new SeamoonError('CLOSED', 'dial aborted'));
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
    };
    const fail = (err: SeamoonError) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    // A refused connection here means Tor is not running; it says nothing about the target.
    const onError = (err: Error) =>
      fail(new SeamoonError('TUNNEL_UNAVAILABLE', `Tor SOCKS port ${where} unreachable: ${err.message}`));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
