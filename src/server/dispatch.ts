import type { AddressInfo, Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { HOPS_HEADER, hopRefusal, parseHops } from '../core/hops.js';
import type { Logger } from '../core/logger.js';
import type { TokenChecker } from './auth.js';
import type { MessageChannel, MessageRoute, RouteTable, StreamRoute, TunnelRequest } from './routes.js';

/**
 * What the WebSocket and gRPC faces of the server share once a route is found: the admission
 * checks that do not depend on the transport and the way a route is run and cleaned up after.
 */

/** What either transport (WebSocket, gRPC) is started with. */
export interface TunnelServerOptions {
  host: string;
  port: number;
  routes: RouteTable;
  tokens: TokenChecker;
  /**
   * A connection's opening must arrive within this: the complete WebSocket upgrade request, or
   * the HTTP/2 preface.
   */
  handshakeTimeoutMs: number;
  log: Logger;
  startedAt: Date;
  /** PEM certificate and key: serve wss:// or grpcs:// directly. */
  tls?: { cert: Buffer; key: Buffer };
  /** This server's id in cascade hop lists (SM-HOPS); a stream that already passed it is refused. */
  hopId?: string;
}

/** After a route finishes, its stream gets this long to flush a last reply before it is cut. */
export const LINGER_MS = 10_000;

/**
 * Why a stream with these headers must be refused before it reaches a route (a cascade loop, an
 * over-long chain); undefined = admit. `hopId` is this server's id.
 */
export function admissionRefusal(
  headers: Record<string, string | string[] | undefined>,
  hopId: string | undefined,
): string | undefined {
  const value = headers[HOPS_HEADER];
  return hopRefusal(parseHops(Array.isArray(value) ? value.join(',') : value), hopId);
}

/** Listens on host:port; later listener errors are logged. Resolves with the bound address. */
export async function listen(
  server: Server,
  host: string,
  port: number,
  log: Logger,
): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'listener error'));
  const bound = server.address() as AddressInfo;
  return { host: bound.address, port: bound.port };
}

/** Resolves once `condition` holds or `timeoutMs` has passed (shutdown grace). */
export function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const check = () => {
      if (condition() || Date.now() - started >= timeoutMs) resolve();
      else setTimeout(check, 25);
    };
    check();
  });
}

function logFailure(log: Logger) {
  return (err: unknown) => log.warn({ err: String(err) }, 'route failed');
}

/** Runs a stream route; afterwards the stream ends politely and is cut after LINGER_MS. */
export function serveStreamRoute(route: StreamRoute, stream: Duplex, request: TunnelRequest): void {
  stream.on('error', (err) => request.log.debug({ err: err.message }, 'tunnel stream error'));
  route
    .handle(stream, request)
    .catch(logFailure(request.log))
    .finally(() => {
      // End politely so a last reply (a SOCKS refusal, an HTTP 502) still reaches the client.
      if (stream.destroyed) return;
      stream.end();
      const cut = setTimeout(() => stream.destroy(), LINGER_MS);
      cut.unref();
      stream.once('close', () => clearTimeout(cut));
    });
}

/** Runs a message route; afterwards the channel is closed and `cleanUp` (if any) runs. */
export function serveMessageRoute(
  route: MessageRoute,
  channel: MessageChannel,
  request: TunnelRequest,
  cleanUp?: () => void,
): void {
  route
    .handle(channel, request)
    .catch(logFailure(request.log))
    .finally(() => {
      channel.close();
      cleanUp?.();
    });
}
