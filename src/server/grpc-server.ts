import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  type handleBidiStreamingCall,
  type handleUnaryCall,
  type Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { COMMIT, VERSION } from '../core/version.js';
import { ServerCallStream } from '../transport/grpc/call-stream.js';
import { serverCallToMessageChannel } from '../transport/grpc/message-channel.js';
import type { Ping, Pong } from '../transport/grpc/messages.js';
import {
  GOST_ROUTE,
  GOST_SERVICE,
  TUNNEL_SERVICE,
  TUNNEL_STREAM_ROUTES,
  type TunnelStreamMethod,
} from '../transport/grpc/service.js';
import { sniffConnection } from '../transport/grpc/sniff.js';
import {
  admissionRefusal,
  listen,
  serveMessageRoute,
  serveStreamRoute,
  type TunnelServerOptions,
  waitUntil,
} from './dispatch.js';
import { formatLocalTime } from './health.js';
import type { Route, TunnelRequest } from './routes.js';

/** Without `tls`, the server speaks h2c. */
export type GrpcServerOptions = TunnelServerOptions;

export interface RunningGrpcServer {
  address: { host: string; port: number };
  stats(): { active: number; total: number };
  /** Stops accepting, cancels open streams after a short grace, resolves once closed. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 2_000;

/**
 * HTTP/2 keepalive: ping every connection now and then so a client that vanished without a
 * FIN (laptop lid, NAT timeout) is noticed and its streams freed; close connections that
 * carried no call for a while. Client pings every 10 s are allowed (the reference client's rate).
 */
const SERVER_CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.max_connection_idle_ms': 300_000,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  // Bounds what one connection can make the server hold open.
  'grpc.max_concurrent_streams': 1_000,
};

/** The answer to an HTTP/1.1 request (typically a WebSocket upgrade) on the gRPC port. */
const NOT_HTTP1_MESSAGE =
  'This is a seamoon gRPC tunnel server (HTTP/2 only). Use a grpc:// or grpcs:// tunnel URL, ' +
  'or start the server with -t websocket for ws:// and wss:// tunnels.\n';

function http1Refusal(): string {
  const body = Buffer.from(NOT_HTTP1_MESSAGE, 'utf8');
  return (
    'HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${NOT_HTTP1_MESSAGE}`
  );
}

/** Metadata → lower-cased header map without the credential (routes must never see or log it). */
function tunnelHeaders(metadata: Metadata): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(metadata.getMap())) {
    if (name === 'authorization' || name.endsWith('-bin')) continue;
    headers[name.toLowerCase()] = String(value);
  }
  return headers;
}

function firstValue(metadata: Metadata, key: string): string | undefined {
  const [value] = metadata.get(key);
  return typeof value === 'string' ? value : undefined;
}

function bearerToken(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
}

/** grpc-js peers look like `1.2.3.4:5678` or `[::1]:5678`; routes want the address only. */
function peerAddress(peer: string): string {
  const match = /^\[?([^\]]*?)\]?:\d+$/.exec(peer);
  return match ? match[1] : peer;
}

/**
 * The gRPC face of the tunnel server. `tunnel.Tunnel` stream methods and gost's
 * `GostTunel/Tunnel` resolve to routes of the same RouteTable the WebSocket server uses;
 * methods whose route is absent answer UNIMPLEMENTED. We own the listener (plain TCP or TLS)
 * and hand HTTP/2 connections to grpc-js, so an HTTP/1.1 client that knocked on the wrong port
 * gets a readable answer instead of a reset.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { routes, tokens, log } = options;
  const openStreams = new Set<{ cancel(): void }>();
  const sockets = new Set<Socket>();
  let total = 0;
  let closing = false;

  function authorize(route: Route, metadata: Metadata, peer: string): boolean {
    if (route.auth === 'self') return true;
    if (tokens.matches(bearerToken(firstValue(metadata, 'authorization')))) return true;
    log.info({ route: route.name, remote: peer }, 'tunnel rejected: bad or missing token');
    return false;
  }

  function requestFor(route: Route, call: ServerDuplexStream<Buffer, Buffer>): TunnelRequest {
    const remoteAddress = peerAddress(call.getPeer());
    return {
      transport: 'grpc',
      headers: tunnelHeaders(call.metadata),
      remoteAddress,
      log: log.child({ route: route.name, remote: remoteAddress, transport: 'grpc' }),
    };
  }

  function fail(call: ServerDuplexStream<Buffer, Buffer>, code: status, details: string): void {
    call.emit('error', { code, details });
  }

  function serve(routeName: string): handleBidiStreamingCall<Buffer, Buffer> {
    return (call) => {
      const route = routes.get(routeName);
      if (!route) return fail(call, status.UNIMPLEMENTED, `this server does not serve ${routeName}`);
      if (closing) return fail(call, status.UNAVAILABLE, 'server shutting down');
      if (!authorize(route, call.metadata, peerAddress(call.getPeer()))) {
        return fail(call, status.UNAUTHENTICATED, 'bad or missing bearer token');
      }
      const request = requestFor(route, call);
      const refusal = admissionRefusal(request.headers, options.hopId);
      if (refusal) {
        log.warn({ route: route.name, remote: request.remoteAddress }, `tunnel rejected: ${refusal}`);
        return fail(call, status.FAILED_PRECONDITION, refusal);
      }
      total += 1;
      if (route.kind === 'stream') {
        const stream = new ServerCallStream(call);
        const entry = { cancel: () => stream.destroy() };
        openStreams.add(entry);
        stream.once('close', () => openStreams.delete(entry));
        serveStreamRoute(route, stream, request);
      } else {
        const channel = serverCallToMessageChannel(call);
        const entry = { cancel: () => channel.close() };
        openStreams.add(entry);
        channel.onClose(() => openStreams.delete(entry));
        call.on('error', (err: Error) => request.log.debug({ err: err.message }, 'tunnel channel error'));
        serveMessageRoute(route, channel, request);
      }
    };
  }

  const health: handleUnaryCall<Ping, Pong> = (_call, callback) => {
    callback(null, {
      status: 'OK',
      time: formatLocalTime(options.startedAt),
      version: VERSION,
      commit: COMMIT,
    });
  };

  const grpcServer = new Server(SERVER_CHANNEL_OPTIONS);
  const tunnelImplementation: UntypedServiceImplementation = { Health: health };
  for (const [method, routeName] of Object.entries(TUNNEL_STREAM_ROUTES) as [TunnelStreamMethod, string][]) {
    // Unregistered methods get grpc-js's UNIMPLEMENTED answer.
    if (routes.get(routeName)) tunnelImplementation[method] = serve(routeName);
  }
  grpcServer.addService(TUNNEL_SERVICE, tunnelImplementation);
  if (routes.get(GOST_ROUTE)) grpcServer.addService(GOST_SERVICE, { Tunnel: serve(GOST_ROUTE) });
  // TLS (when configured) is ours, so grpc-js sees every connection as cleartext HTTP/2.
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());

  async function accept(socket: Socket): Promise<void> {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => log.debug({ err: err.message }, 'connection error'));
    const { protocol, opening } = await sniffConnection(socket, options.handshakeTimeoutMs);
    if (closing) {
      socket.destroy();
    } else if (protocol === 'http2') {
      injector.injectConnection(socket);
      socket.resume();
    } else if (protocol === 'http1') {
      const websocket = /^upgrade:[ \t]*websocket/im.test(opening.toString('latin1'));
      log.warn(
        { remote: socket.remoteAddress, websocket },
        websocket
          ? 'a WebSocket client connected to the gRPC port; it needs -t websocket (or a grpc:// URL)'
          : 'an HTTP/1.1 request arrived at the gRPC port; only HTTP/2 gRPC is served here',
      );
      socket.end(http1Refusal());
      setTimeout(() => socket.destroy(), 1_000).unref();
    } else {
      log.debug({ remote: socket.remoteAddress }, 'connection closed: not HTTP/2');
      socket.destroy();
    }
  }

  const onConnection = (socket: Socket) => {
    accept(socket).catch((err: unknown) => {
      log.debug({ err: String(err) }, 'connection setup failed');
      socket.destroy();
    });
  };
  const listener: NetServer = options.tls
    ? createTlsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          // http/1.1 is offered only so a misdirected client can be told what it reached.
          ALPNProtocols: ['h2', 'http/1.1'],
          handshakeTimeout: options.handshakeTimeoutMs,
        },
        onConnection,
      )
    : createNetServer(onConnection);
  listener.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed'));

  const address = await listen(listener, options.host, options.port, log);

  return {
    address,
    stats: () => ({ active: openStreams.size, total }),
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      injector.drain(SHUTDOWN_GRACE_MS);
      await waitUntil(() => openStreams.size === 0, SHUTDOWN_GRACE_MS);
      for (const entry of openStreams) entry.cancel();
      injector.destroy();
      grpcServer.forceShutdown();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
