import type { Duplex } from 'node:stream';
import type { Target } from '../../core/address.js';
import { SeamoonError } from '../../core/errors.js';
import { formatHops, HOPS_HEADER } from '../../core/hops.js';
import { createLogger, type Logger } from '../../core/logger.js';
import type { DialOptions, UdpSession } from '../../outbound/types.js';
import { FastPathClientStream } from '../../transport/mux/fast-path-client.js';
import { YamuxSession } from '../../transport/mux/session.js';
import { WarmSessionPool, type WarmSessionStats } from '../pool/warm-sessions.js';
import type { Tunnel, TunnelHealth, TunnelOptions } from './types.js';
import { createWsTunnel } from './ws.js';
import { parseWsEndpoint, routeUrl } from './ws-endpoint.js';
import { openTunnelSocket } from './ws-open.js';

const DEFAULT_WARM_SESSIONS = 2;
/** Below the idle timeouts of FaaS front doors and ingresses (typically 60 s or more). */
const DEFAULT_KEEPALIVE_MS = 15_000;
const PING_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
/** Per-stream receive window: 1 MiB keeps a single download fast on a 50-100 ms path. */
const CLIENT_STREAM_WINDOW = 1024 * 1024;

export interface MuxTunnelSettings {
  /** Sessions kept open (default 2). */
  warm?: number;
  /** Keepalive ping interval (default 15 s; 0 = off). */
  keepAliveMs?: number;
  log?: Logger;
}

export interface MuxTunnel extends Tunnel {
  readonly mux: true;
  sessions(): WarmSessionStats;
}

export function isMuxTunnel(tunnel: Tunnel): tunnel is MuxTunnel {
  return (tunnel as Partial<MuxTunnel>).mux === true;
}

/**
 * The fast path to a seamoon server: app connections become streams of a few long-lived
 * yamux sessions on `<prefix>/mux`, each opened with the target and the app's first bytes
 * in one frame. UDP and the health page go the per-connection way (`ws.ts`).
 */
export function createWsMuxTunnel(url: URL, options: TunnelOptions & MuxTunnelSettings = {}): MuxTunnel {
  const endpoint = parseWsEndpoint(url);
  const token = options.token ?? endpoint.token;
  const tls = { insecure: options.insecure, ca: options.ca };
  const log = (options.log ?? createLogger({ name: 'seamoon-mux' })).child({ tunnel: endpoint.displayUrl });
  const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
  const perConnection = createWsTunnel(url, options);
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.onion) headers['sm-onion'] = 'enable';
  // A cascade hop names the servers the stream came through, so a loop is refused (HTTP 508).
  if (options.hops && options.hops.length > 0) headers[HOPS_HEADER] = formatHops(options.hops);

  const pool = new WarmSessionPool({
    size: Math.max(1, options.warm ?? DEFAULT_WARM_SESSIONS),
    log,
    async connect() {
      const socket = await openTunnelSocket(routeUrl(endpoint, 'mux'), {
        headers,
        tls,
        timeoutMs: CONNECT_TIMEOUT_MS,
        displayUrl: endpoint.displayUrl,
      });
      // Frames go straight over the socket's messages; the session handles its errors and close.
      return new YamuxSession(socket, {
        role: 'client',
        maxStreamWindow: CLIENT_STREAM_WINDOW,
        keepAliveIntervalMs: keepAliveMs,
        pingTimeoutMs: PING_TIMEOUT_MS,
        log,
      });
    },
  });
  pool.start();
  let closed = false;

  async function dial(target: Target, dialOptions: DialOptions = {}): Promise<Duplex> {
    if (closed) throw new SeamoonError('TUNNEL_UNAVAILABLE', `tunnel ${endpoint.displayUrl} is closed`);
    const timeoutMs = dialOptions.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    const session = await pool.acquire(timeoutMs, dialOptions.signal);
    const stream = FastPathClientStream.open(session.openStream(), target, {
      firstBytes: dialOptions.firstBytes,
      onion: dialOptions.onion,
    });
    // The app spoke first: its bytes are already on the way, answer at once (one round trip).
    // Otherwise waiting for the status costs nothing and gives the handler a precise error.
    if (dialOptions.firstBytes !== undefined) return stream;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stream.destroy();
    }, timeoutMs);
    const onAbort = () => stream.destroy();
    dialOptions.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await stream.established;
      return stream;
    } catch (err) {
      stream.destroy();
      if (timedOut)
        throw new SeamoonError('DIAL_TIMEOUT', `no answer from the tunnel within ${timeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
      dialOptions.signal?.removeEventListener('abort', onAbort);
    }
  }

  return {
    mux: true,
    name: `ws-mux:${endpoint.displayUrl}`,
    displayUrl: endpoint.displayUrl,
    dial,
    openUdp(udpOptions): Promise<UdpSession> {
      return perConnection.openUdp!(udpOptions);
    },
    async health(healthOptions): Promise<TunnelHealth> {
      const result = await perConnection.health(healthOptions);
      // The keepalive round trip over the open session is the latency apps actually see.
      const session = pool.anySession();
      if (result.ok && session) {
        try {
          result.latencyMs = Math.round(await session.ping(healthOptions?.timeoutMs ?? PING_TIMEOUT_MS));
        } catch {
          // The page answered; the session will be replaced by the pool if it is dead.
        }
      }
      return result;
    },
    sessions: () => pool.stats(),
    async close() {
      closed = true;
      pool.close();
      await perConnection.close();
    },
  };
}
