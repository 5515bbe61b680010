import { type AddressInfo, createServer, type Socket } from 'node:net';
import { SeamoonError, toSeamoonError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Outbound } from '../outbound/types.js';
import { handleAuto } from '../protocol/auto.js';
import { handleHttpProxy } from '../protocol/http-proxy.js';
import { handleSocks5 } from '../protocol/socks5.js';
import { DEFAULT_TIMEOUTS, type ProxyHandler, type Timeouts } from '../protocol/types.js';
import { formatListenSpec, type ListenScheme, type ListenSpec } from './listen-spec.js';
import { ListenerStats } from './stats.js';
import { createUdpAssociator } from './udp-associate.js';

const HANDLERS: Record<ListenScheme, ProxyHandler> = {
  mixed: handleAuto,
  socks5: handleSocks5,
  http: handleHttpProxy,
};

/** Errors that mean the tunnel itself is in trouble (worth a warning), not one bad target. */
const TUNNEL_ERRORS = new Set(['AUTH_FAILED', 'TUNNEL_UNAVAILABLE']);

export interface LocalProxyOptions {
  spec: ListenSpec;
  /** Where accepted connections go: a tunnel (or a pool of them). */
  outbound: Outbound;
  log: Logger;
  timeouts?: Timeouts;
  stats?: ListenerStats;
  /**
   * Answer CONNECT before dialing: for tunnels whose dial carries the app's first bytes (mux
   * fast path). A function is asked per connection (e.g. "is a tunnel connection ready?").
   */
  optimisticConnect?: boolean | (() => boolean);
  /** An Outbound per app connection (a tunnel pool pinning each connection to one tunnel). */
  outboundForConnection?: () => Outbound;
}

export interface LocalProxy {
  /** The bound address (the real port when the spec asked for 0). */
  address: { host: string; port: number };
  stats: ListenerStats;
  close(): Promise<void>;
}

/** Counts and logs failed dials, so the stats show why apps got errors. */
function observedOutbound(outbound: Outbound, stats: ListenerStats, log: Logger): Outbound {
  const observed: Outbound = {
    name: outbound.name,
    async dial(target, options) {
      try {
        return await outbound.dial(target, options);
      } catch (err) {
        const error = toSeamoonError(err);
        stats.recordError(error.code);
        const fields = { host: target.host, port: target.port, code: error.code };
        if (TUNNEL_ERRORS.has(error.code)) log.warn(fields, error.message);
        else log.info(fields, `dial failed: ${error.message}`);
        throw error;
      }
    },
  };
  if (outbound.openUdp) {
    const openUdp = outbound.openUdp.bind(outbound);
    observed.openUdp = async (options) => {
      try {
        return await openUdp(options);
      } catch (err) {
        const error = toSeamoonError(err);
        stats.recordError(error.code);
        log.warn({ code: error.code }, `udp association failed: ${error.message}`);
        throw error;
      }
    };
  }
  return observed;
}

/**
 * A local SOCKS5 / HTTP / mixed proxy: the protocol is terminated here with the same handlers
 * the server uses, and every accepted connection is dialed through `outbound`.
 */
export async function startLocalProxy(options: LocalProxyOptions): Promise<LocalProxy> {
  const { spec } = options;
  const server = createServer({ noDelay: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      reject(
        new SeamoonError('BAD_ADDRESS', `cannot listen on ${formatListenSpec(spec)}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(spec.port, spec.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // Labels use the bound port, which differs from the spec's when it asked for port 0.
  const bound = server.address() as AddressInfo;
  const label = formatListenSpec(spec, bound.port);
  const stats = options.stats ?? new ListenerStats(label);
  const log = options.log.child({ listener: label });
  const outbound = observedOutbound(options.outbound, stats, log);
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const handler = HANDLERS[spec.scheme];
  const associatorFor = createUdpAssociator({ outbound, log, counters: stats.counters });
  const sockets = new Set<Socket>();

  server.on('connection', (socket) => {
    sockets.add(socket);
    stats.connectionOpened();
    socket.once('close', () => {
      sockets.delete(socket);
      stats.connectionClosed();
    });
    // Resets from apps are routine; the handler sees the close, nothing else needs to.
    socket.on('error', (err) => log.debug({ err: err.message }, 'app connection error'));
    handler(socket, {
      outbound: options.outboundForConnection
        ? observedOutbound(options.outboundForConnection(), stats, log)
        : outbound,
      log,
      timeouts,
      credentials: spec.credentials,
      udp: associatorFor(socket),
      counters: stats.counters,
      optimisticConnect:
        typeof options.optimisticConnect === 'function'
          ? options.optimisticConnect()
          : options.optimisticConnect,
    })
      .catch((err: unknown) => {
        // Handlers are not supposed to throw; if one does, the connection still gets closed.
        const error = toSeamoonError(err);
        stats.recordError(error.code);
        log.error({ code: error.code }, `proxy handler failed: ${error.message}`);
      })
      .finally(() => socket.destroy());
  });
  server.on('error', (err) => log.error({ err: err.message }, 'listener error'));

  let closing: Promise<void> | undefined;
  return {
    address: { host: bound.address, port: bound.port },
    stats,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
