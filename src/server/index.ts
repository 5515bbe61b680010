import { readFileSync } from 'node:fs';
import { newHopId } from '../core/hops.js';
import { createLogger, type Logger } from '../core/logger.js';
import { createDirectOutbound } from '../outbound/direct.js';
import { EgressGuard } from '../outbound/egress-guard.js';
import { createServerOutbound } from '../outbound/router.js';
import type { Timeouts } from '../protocol/types.js';
import { generateToken, TokenChecker } from './auth.js';
import { buildRouteTable, type RouteFactory } from './builtin-routes.js';
import type { ServerOptions } from './config.js';
import type { RouteTable } from './routes.js';
import { startWsServer, type TunnelStats } from './ws-server.js';

export type { ServerOptions } from './config.js';

export interface RunningServer {
  address: { host: string; port: number };
  /** The token clients must present; undefined when started with `noAuth`. */
  token: string | undefined;
  /** True when no token was configured and this one was generated at start. */
  tokenGenerated: boolean;
  /** This server's id in cascade hop lists (SM-HOPS). */
  hopId: string;
  stats(): TunnelStats;
  close(): Promise<void>;
}

export interface StartServerExtras {
  log?: Logger;
  /** More routes, on top of the built-in ones (tests, embedding). */
  routes?: RouteFactory[];
  env?: NodeJS.ProcessEnv;
  /** A fixed cascade hop id instead of a random one (tests). */
  hopId?: string;
}

/** What a transport needs to serve the routes; the gRPC transport gets the same. */
export interface TransportContext {
  options: ServerOptions;
  routes: RouteTable;
  tokens: TokenChecker;
  log: Logger;
  startedAt: Date;
  hopId: string;
}

/** What every transport returns once listening. */
export interface RunningTransport {
  address: { host: string; port: number };
  stats(): TunnelStats;
  close(): Promise<void>;
}

async function startTransport(context: TransportContext): Promise<RunningTransport> {
  const { options } = context;
  const transportOptions = {
    host: options.host,
    port: options.port,
    routes: context.routes,
    tokens: context.tokens,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    log: context.log,
    startedAt: context.startedAt,
    hopId: context.hopId,
    tls:
      options.tlsCertPath && options.tlsKeyPath
        ? { cert: readFileSync(options.tlsCertPath), key: readFileSync(options.tlsKeyPath) }
        : undefined,
  };
  if (options.type === 'grpc') {
    const { startGrpcServer } = await import('./grpc-server.js');
    return startGrpcServer(transportOptions);
  }
  return startWsServer(transportOptions);
}

/** Starts the tunnel server on the transport `options.type` names. */
export async function startServer(
  options: ServerOptions,
  extras: StartServerExtras = {},
): Promise<RunningServer> {
  const log = extras.log ?? createLogger({ level: options.logLevel, name: 'seamoon-server' });
  const token = options.noAuth ? undefined : (options.token ?? generateToken());
  const timeouts: Timeouts = {
    handshakeMs: options.handshakeTimeoutMs,
    dialMs: options.dialTimeoutMs,
    idleMs: options.idleTimeoutMs,
  };
  const hopId = extras.hopId ?? newHopId();
  const guard = new EgressGuard({ allowPrivate: options.allowPrivate, allow: options.allow });
  // Tor for SM-ONION/.onion, the next hop when cascading, else direct (src/outbound/router.ts).
  const routing = await createServerOutbound(
    createDirectOutbound({ guard, log, dialTimeoutMs: options.dialTimeoutMs }),
    { torSocks: options.torSocks, cascade: options.cascade, hopId },
    log,
  );
  const outbound = routing.outbound;
  const routes = await buildRouteTable(
    { outbound, timeouts, log, env: extras.env ?? process.env },
    extras.routes ?? [],
  );
  const context: TransportContext = {
    options,
    routes,
    tokens: new TokenChecker(token),
    log,
    startedAt: new Date(),
    hopId,
  };
  const transport = await startTransport(context);
  log.info(
    {
      host: transport.address.host,
      port: transport.address.port,
      routes: routes.names(),
      auth: token !== undefined,
    },
    'tunnel server started',
  );
  return {
    address: transport.address,
    token,
    tokenGenerated: token !== undefined && options.token === undefined,
    hopId,
    stats: transport.stats,
    close: async () => {
      await transport.close();
      await routing.close();
    },
  };
}
