import { createServer as createHttpServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { wsToDuplex, wsToMessageChannel } from '../transport/ws-stream.js';
import { resolveRouteAccess } from './auth.js';
import {
  admissionRefusal,
  LINGER_MS,
  listen,
  serveMessageRoute,
  serveStreamRoute,
  type TunnelServerOptions,
  waitUntil,
} from './dispatch.js';
import { decodeEarlyData, MAX_EARLY_DATA_BYTES } from './early-data.js';
import { healthText } from './health.js';
import type { MessageChannel, MessageRoute, StreamRoute, TunnelRequest } from './routes.js';

export type WsServerOptions = TunnelServerOptions;

export interface TunnelStats {
  /** Tunnel streams open right now. */
  active: number;
  /** Tunnel streams accepted since start. */
  total: number;
}

export interface RunningWsServer {
  address: { host: string; port: number };
  stats(): TunnelStats;
  /** Stops accepting, closes every open tunnel stream, resolves once the listener is closed. */
  close(): Promise<void>;
}

/** Room for ordinary headers plus the largest accepted early data (base64 is 4/3 larger). */
const MAX_HEADER_BYTES = 8 * 1024 + Math.ceil((MAX_EARLY_DATA_BYTES * 4) / 3);
/**
 * One WebSocket message is one chunk of a stream; clients send socket reads (≤ 64 KiB). The cap
 * bounds what a single peer can make the server buffer.
 */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** On shutdown, streams get this long to close politely before they are terminated. */
const SHUTDOWN_GRACE_MS = 2_000;

/** Writes a complete HTTP response on a raw socket that never became a WebSocket, then closes it. */
function rejectUpgrade(socket: Duplex, status: number, extraHeaders: Record<string, string> = {}): void {
  if (socket.writable) {
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
      'Connection: close',
      'Content-Length: 0',
    ];
    for (const [name, value] of Object.entries(extraHeaders)) lines.push(`${name}: ${value}`);
    socket.end(`${lines.join('\r\n')}\r\n\r\n`);
  }
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** Header names are already lower-case in node:http; repeated headers are joined. */
function tunnelHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // Routes have no business with the credential; keeping it out means no route can log it.
    if (name === 'authorization') continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** A channel whose first message is the early data, if any, then the socket's messages. */
function withFirstMessage(channel: MessageChannel, first: Buffer | undefined): MessageChannel {
  if (!first) return channel;
  return {
    ...channel,
    onMessage(listener) {
      queueMicrotask(() => listener(first));
      channel.onMessage(listener);
    },
  };
}

/**
 * The WebSocket face of the tunnel server: `/<route>` or `/<token>/<route>` upgrades to a
 * WebSocket handed to the route from the RouteTable; `GET /_health` answers plain text.
 */
export async function startWsServer(options: WsServerOptions): Promise<RunningWsServer> {
  const { routes, tokens, log } = options;
  const open = new Set<WebSocket>();
  let total = 0;
  let closing = false;

  const serverOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: options.handshakeTimeoutMs,
    requestTimeout: options.handshakeTimeoutMs * 2,
    // Node only checks the two timeouts above on this interval (30 s by default).
    connectionsCheckingInterval: Math.min(1_000, options.handshakeTimeoutMs),
    keepAliveTimeout: 5_000,
  };
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key })
    : createHttpServer(serverOptions);

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    // Text messages are carried as bytes too, so their UTF-8 validity is irrelevant.
    skipUTF8Validation: true,
    handleProtocols: (protocols, req) => {
      const offered = req.headers['sec-websocket-protocol'];
      return protocols.size === 1 && decodeEarlyData(offered) ? [...protocols][0]! : false;
    },
  });

  server.on('request', (req, res) => {
    const access = resolveRouteAccess(req.url, req.headers.authorization, tokens);
    const reply = (status: number, body = '', headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (access.route === '_health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, '', { allow: 'GET, HEAD' });
      return reply(200, healthText(options.startedAt), { 'content-type': 'text/plain' });
    }
    const route = access.route === undefined ? undefined : routes.get(access.route);
    if (!route) return reply(404, 'not found\n');
    if (route.auth === 'token' && !access.authorized) {
      return reply(401, 'unauthorized\n', { 'www-authenticate': 'Bearer' });
    }
    reply(426, 'this path expects a WebSocket upgrade\n', { upgrade: 'websocket', connection: 'Upgrade' });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    if (closing) return rejectUpgrade(socket, 503);
    const access = resolveRouteAccess(req.url, req.headers.authorization, tokens);
    const route = access.route === undefined ? undefined : routes.get(access.route);
    if (!route) return rejectUpgrade(socket, 404);
    if (route.auth === 'token' && !access.authorized) {
      log.info(
        { route: route.name, remote: req.socket.remoteAddress },
        'tunnel rejected: bad or missing token',
      );
      return rejectUpgrade(socket, 401, { 'WWW-Authenticate': 'Bearer' });
    }
    const refusal = admissionRefusal(req.headers, options.hopId);
    if (refusal) {
      log.warn({ route: route.name, remote: req.socket.remoteAddress }, `tunnel rejected: ${refusal}`);
      return rejectUpgrade(socket, 508);
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      total += 1;
      open.add(ws);
      ws.once('close', () => open.delete(ws));
      const remoteAddress = req.socket.remoteAddress ?? '';
      const request: TunnelRequest = {
        transport: 'ws',
        headers: tunnelHeaders(req),
        remoteAddress,
        log: log.child({ route: route.name, remote: remoteAddress }),
      };
      const earlyData = decodeEarlyData(req.headers['sec-websocket-protocol']);
      if (route.kind === 'stream') serveStream(route, ws, request, earlyData);
      else serveMessages(route, ws, request, earlyData);
    });
  });

  server.on('clientError', (err, socket: Duplex) => {
    log.debug({ err: err.message }, 'bad HTTP request');
    // Answer as Node's default handler would (400/431/408), and make sure the socket goes away.
    const code = (err as NodeJS.ErrnoException).code;
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    rejectUpgrade(socket, status);
  });
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));

  function serveStream(route: StreamRoute, ws: WebSocket, request: TunnelRequest, earlyData?: Buffer): void {
    const stream = wsToDuplex(ws);
    // Early data goes in-band, ahead of everything read from the socket, so the route reads it
    // exactly once and does not need to know it arrived with the upgrade.
    if (earlyData) stream.unshift(earlyData);
    serveStreamRoute(route, stream, request);
  }

  function serveMessages(
    route: MessageRoute,
    ws: WebSocket,
    request: TunnelRequest,
    earlyData?: Buffer,
  ): void {
    ws.on('error', (err) => request.log.debug({ err: err.message }, 'tunnel channel error'));
    const channel = withFirstMessage(wsToMessageChannel(ws), earlyData);
    serveMessageRoute(route, channel, request, () => {
      const cut = setTimeout(() => ws.terminate(), LINGER_MS);
      cut.unref();
      ws.once('close', () => clearTimeout(cut));
    });
  }

  const address = await listen(server, options.host, options.port, log);

  return {
    address,
    stats: () => ({ active: open.size, total }),
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const ws of open) ws.close(1001, 'server shutting down');
      server.closeIdleConnections();
      await waitUntil(() => open.size === 0, SHUTDOWN_GRACE_MS);
      for (const ws of open) ws.terminate();
      server.closeAllConnections();
      await closed;
      wss.close();
    },
  };
}
