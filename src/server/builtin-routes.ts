import type { Duplex } from 'node:stream';
import { parseTarget, type Target } from '../core/address.js';
import { HOPS_HEADER, parseHops } from '../core/hops.js';
import type { Logger } from '../core/logger.js';
import { deferredUdpSession } from '../outbound/deferred-udp.js';
import type { Outbound } from '../outbound/types.js';
import { handleAuto } from '../protocol/auto.js';
import { handleHttpProxy } from '../protocol/http-proxy.js';
import { handleSocks5 } from '../protocol/socks5.js';
import { decodeUdpFrame, encodeUdpFrame } from '../protocol/socks5-codec.js';
import type { ProxyHandler, ProxyHandlerContext, Timeouts, UdpAssociator } from '../protocol/types.js';
import {
  type MessageChannel,
  type Route,
  RouteTable,
  type StreamRoute,
  type TunnelRequest,
} from './routes.js';
import { relayDatagrams } from './udp-relay.js';

/** What every route of the tunnel server is built from. */
export interface RouteDeps {
  outbound: Outbound;
  timeouts: Timeouts;
  log: Logger;
  /** For routes configured by the environment (SM_UID, SM_SS_PASS, ...). */
  env: NodeJS.ProcessEnv;
}

/**
 * Contributes routes to the server. May be async so a protocol's module is only imported when
 * it is actually served; may return no routes when its configuration is absent.
 */
export type RouteFactory = (deps: RouteDeps) => Route[] | Promise<Route[]>;

/**
 * Routes beyond the built-in proxy protocols. Each protocol module adds one entry here, e.g.
 * `async (deps) => (await import('../protocol/vless/route.js')).vlessRoutes(deps),`
 */
const EXTRA_ROUTE_FACTORIES: RouteFactory[] = [
  // `/mux`: yamux sessions carrying fast-path streams (one round trip to the first byte).
  async (deps) => {
    const { createMuxRoute } = await import('./mux-route.js');
    const route = createMuxRoute(deps);
    const scoped: StreamRoute = {
      ...route,
      // Every stream of the session came through the hops its upgrade named.
      handle: (stream, request) => {
        const outbound = outboundFor(deps, request);
        const serving = outbound === deps.outbound ? route : createMuxRoute({ ...deps, outbound });
        return serving.handle(stream, request);
      },
    };
    return [scoped];
  },
  // `/vless`, `/vmess` (SM_UID) and `/v-shadowsocks` (SM_SS_PASS); none when unconfigured.
  async (deps) => (await import('./v2ray-routes.js')).v2rayRoutes(deps),
];

/**
 * The server's outbound for one tunnel stream: the cascade servers the stream already passed
 * (SM-HOPS) travel with every dial, so a cascade can name them to its next hop.
 */
export function outboundFor(deps: RouteDeps, request: TunnelRequest): Outbound {
  const hops = parseHops(request.headers[HOPS_HEADER]);
  if (hops.length === 0) return deps.outbound;
  const { outbound } = deps;
  const scoped: Outbound = {
    name: outbound.name,
    dial: (target, options) => outbound.dial(target, { ...options, hops }),
  };
  const openUdp = outbound.openUdp?.bind(outbound);
  if (openUdp) scoped.openUdp = (options) => openUdp({ ...options, hops });
  return scoped;
}

/** UDP ASSOCIATE over a tunnel: the reply advertises the client's `SM-UDP-ADDR`; datagrams use `/socks5-udp`. */
function advertisedUdpAddress(address: Target): UdpAssociator {
  return {
    async associate(_control: Duplex) {
      return address;
    },
  };
}

function proxyContext(deps: RouteDeps, request: TunnelRequest): ProxyHandlerContext {
  const udpHeader = request.headers['sm-udp-addr'];
  let udp: UdpAssociator | undefined;
  if (udpHeader) {
    try {
      udp = advertisedUdpAddress(parseTarget(udpHeader));
    } catch {
      // Without a usable address the handler answers UDP ASSOCIATE with 0x07.
      request.log.debug('ignoring malformed SM-UDP-ADDR');
    }
  }
  return {
    outbound: outboundFor(deps, request),
    log: request.log,
    timeouts: deps.timeouts,
    udp,
    onion: Boolean(request.headers['sm-onion']),
  };
}

function streamRoute(name: string, handler: ProxyHandler, deps: RouteDeps): Route {
  return {
    name,
    kind: 'stream',
    auth: 'token',
    handle: (stream, request) => handler(stream, proxyContext(deps, request)),
  };
}

/**
 * `/socks5-udp`: one UDP session per channel. Client messages are SOCKS5 UDP frames (RSV 0 =
 * rest of the message, or RSV = payload length, possibly several frames per message); every
 * datagram that comes back is sent as one message with RSV = payload length and its source.
 */
function socks5UdpRoute(deps: RouteDeps): Route {
  return {
    name: 'socks5-udp',
    kind: 'message',
    auth: 'token',
    async handle(channel: MessageChannel, request: TunnelRequest) {
      const outbound = outboundFor(deps, request);
      if (!outbound.openUdp) {
        request.log.info('UDP is not available on this outbound');
        return;
      }
      // Usable at once: the client's first datagrams arrive while the session is still opening.
      const session = deferredUdpSession(outbound.openUdp());
      await relayDatagrams(
        {
          udp: session,
          idleMs: deps.timeouts.idleMs,
          toClient(source, payload) {
            try {
              channel.send(encodeUdpFrame({ target: source, payload }, true));
            } catch (err) {
              request.log.debug({ err: String(err) }, 'dropping unencodable UDP reply');
            }
          },
          closeClient: () => channel.close(),
          onUdpClose(err) {
            if (err) request.log.info({ err: err.message }, 'UDP session failed');
          },
        },
        ({ touch, finish }) => {
          channel.onMessage((message) => {
            touch();
            try {
              let offset = 0;
              while (offset < message.length) {
                const frame = decodeUdpFrame(message.subarray(offset));
                // Fragmented datagrams (FRAG ≠ 0) are not reassembled; RFC 1928 allows dropping them.
                if (frame.frag === 0) session.send(frame.target, frame.payload);
                offset += frame.length;
              }
            } catch (err) {
              request.log.debug({ err: String(err) }, 'dropping malformed UDP frame');
            }
          });
          channel.onClose(finish);
        },
      );
    },
  };
}

const BUILTIN_ROUTE_FACTORIES: RouteFactory[] = [
  (deps) => [
    streamRoute('http', handleHttpProxy, deps),
    streamRoute('socks5', handleSocks5, deps),
    streamRoute('auto', handleAuto, deps),
    socks5UdpRoute(deps),
  ],
];

/** The single place where the server's routes are assembled. */
export async function buildRouteTable(deps: RouteDeps, extra: RouteFactory[] = []): Promise<RouteTable> {
  const table = new RouteTable();
  for (const factory of [...BUILTIN_ROUTE_FACTORIES, ...EXTRA_ROUTE_FACTORIES, ...extra]) {
    for (const route of await factory(deps)) table.add(route);
  }
  return table;
}
