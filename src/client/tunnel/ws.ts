import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { formatTarget, type Target } from '../../core/address.js';
import { SeamoonError, toSeamoonError } from '../../core/errors.js';
import { formatHops, HOPS_HEADER } from '../../core/hops.js';
import type { DialOptions, UdpSession } from '../../outbound/types.js';
import { socks5Connect } from '../../protocol/socks5-client.js';
import { wsToDuplex } from '../../transport/ws-stream.js';
import { probeHealth } from './health-probe.js';
import type { Tunnel, TunnelHealth, TunnelOptions } from './types.js';
import { healthUrl, parseWsEndpoint, routeUrl, type WsEndpoint } from './ws-endpoint.js';
import { openTunnelSocket, type TlsSettings } from './ws-open.js';
import { openWsUdpSession } from './ws-udp.js';

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 10_000;

/** What a dial mode needs to reach the server. */
export interface WsTunnelContext {
  endpoint: WsEndpoint;
  tls: TlsSettings;
  token?: string;
  onion: boolean;
  /** Sent as SM-HOPS when not empty (TunnelOptions.hops). */
  hops: readonly string[];
  /** Every live WebSocket, so `close()` can end them all. */
  sockets: Set<WebSocket>;
}

function headersFor(context: WsTunnelContext, onion: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  if (context.token) headers.authorization = `Bearer ${context.token}`;
  if (onion) headers['sm-onion'] = 'enable';
  if (context.hops.length > 0) headers[HOPS_HEADER] = formatHops(context.hops);
  return headers;
}

function track(context: WsTunnelContext, socket: WebSocket): void {
  context.sockets.add(socket);
  socket.once('close', () => context.sockets.delete(socket));
}

/**
 * The original's way through a tunnel: one WebSocket per app connection to `/socks5`, then a
 * SOCKS5 CONNECT over it, so the server's reply code becomes our error code (0x02 egress guard
 * → EGRESS_DENIED, 0x05 → CONNECTION_REFUSED, ...).
 */
export async function dialPerConnection(
  context: WsTunnelContext,
  target: Target,
  options: DialOptions = {},
): Promise<Duplex> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const url = routeUrl(context.endpoint, 'socks5');
  const socket = await openTunnelSocket(url, {
    headers: headersFor(context, options.onion ?? context.onion),
    tls: context.tls,
    timeoutMs,
    signal: options.signal,
    displayUrl: context.endpoint.displayUrl,
  });
  track(context, socket);
  const stream = wsToDuplex(socket);
  const onAbort = () => stream.destroy(new SeamoonError('CLOSED', 'dial aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await socks5Connect(stream, target, { timeoutMs: Math.max(1, deadline - Date.now()) });
  } catch (err) {
    stream.destroy();
    if (options.signal?.aborted) throw new SeamoonError('CLOSED', 'dial aborted');
    const error = toSeamoonError(err);
    // The server answers the SOCKS request once its own dial settles: silence means a slow target.
    if (error.code === 'HANDSHAKE_TIMEOUT') {
      throw new SeamoonError('DIAL_TIMEOUT', `no answer for ${formatTarget(target)} within ${timeoutMs} ms`);
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (options.firstBytes && options.firstBytes.length > 0) stream.write(options.firstBytes);
  return stream;
}

/**
 * A tunnel to a seamoon (or original SeaMoon) WebSocket server:
 * `ws[s]://host[:port][/prefix]`, token as `Authorization: Bearer`.
 */
export function createWsTunnel(url: URL, options: TunnelOptions = {}): Tunnel {
  const endpoint = parseWsEndpoint(url);
  const context: WsTunnelContext = {
    endpoint,
    tls: { insecure: options.insecure, ca: options.ca },
    token: options.token ?? endpoint.token,
    onion: options.onion ?? false,
    hops: options.hops ?? [],
    sockets: new Set(),
  };
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new SeamoonError('TUNNEL_UNAVAILABLE', `tunnel ${endpoint.displayUrl} is closed`);
  };

  return {
    name: `ws:${endpoint.displayUrl}`,
    displayUrl: endpoint.displayUrl,
    async dial(target, dialOptions) {
      ensureOpen();
      return dialPerConnection(context, target, dialOptions);
    },
    async openUdp(udpOptions): Promise<UdpSession> {
      ensureOpen();
      const socket = await openTunnelSocket(routeUrl(endpoint, 'socks5-udp'), {
        headers: headersFor(context, false),
        tls: context.tls,
        timeoutMs: DEFAULT_DIAL_TIMEOUT_MS,
        signal: udpOptions?.signal,
        displayUrl: endpoint.displayUrl,
      });
      track(context, socket);
      return openWsUdpSession(socket);
    },
    health(healthOptions): Promise<TunnelHealth> {
      return probeHealth(
        healthUrl(endpoint),
        context.tls,
        healthOptions?.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS,
      );
    },
    async close() {
      closed = true;
      for (const socket of context.sockets) socket.terminate();
      context.sockets.clear();
    },
  };
}
