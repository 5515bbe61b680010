import { isIPv6 } from 'node:net';
import { SeamoonError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import type { Timeouts } from '../protocol/types.js';
import type { ListenSpec } from './listen-spec.js';
import { type LocalProxy, startLocalProxy } from './local-proxy.js';
import { formatTunnelStats } from './pool/render.js';
import { type Rotation, TunnelPool } from './pool/tunnel-pool.js';
import { createTunnel } from './tunnel/registry.js';
import type { Tunnel } from './tunnel/types.js';
import { isMuxTunnel } from './tunnel/ws-mux.js';

export interface ConnectOptions {
  /** Tunnel URLs; several form a pool (strategy, health checks, failover). */
  tunnels: string[];
  /** Pool strategy: round-robin (default), random, sticky, least-latency. */
  strategy?: string;
  /** Pool rotation: per app connection (default) or per request. */
  rotation?: Rotation;
  /** Pool: failures before a tunnel leaves the rotation, and for how long (gost maxFails/failTimeout). */
  maxFails?: number;
  failTimeoutMs?: number;
  /** Pool: health check period (0 = off). */
  healthIntervalMs?: number;
  /** Pool: how long a site stays on its tunnel with the sticky strategy. */
  stickyTtlMs?: number;
  /** Fast path: multiplexed connections kept open per tunnel. */
  warm?: number;
  token?: string;
  /** Parsed `--listen` values (at least one). */
  listen: ListenSpec[];
  /** Print stats every N seconds (0 or absent: only on SIGUSR1). */
  statsIntervalSec?: number;
  insecure?: boolean;
  ca?: Buffer[];
  /** Per-connection routes (the original's wire behaviour). */
  compat?: boolean;
  /**
   * Answer SOCKS5/CONNECT only after the server reached the target: exact refusal codes for
   * the app, at the price of one more round trip on the fast path.
   */
  exactErrors?: boolean;
  logLevel?: string;
  timeouts?: Timeouts;
  /** Where status lines go (stdout by default). */
  print?: (line: string) => void;
  log?: Logger;
}

export interface RunningConnect {
  tunnel: Tunnel;
  proxies: LocalProxy[];
  /** All stats as lines. */
  statsLines(): string[];
  close(): Promise<void>;
}

function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Starts the local proxies of `seamoon connect` and returns once every listener is bound.
 * Signals are the caller's business (see `installConnectSignals`).
 */
export async function startConnect(options: ConnectOptions): Promise<RunningConnect> {
  const log = options.log ?? createLogger({ level: options.logLevel, name: 'seamoon-connect' });
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (options.tunnels.length === 0)
    throw new SeamoonError('BAD_ADDRESS', 'at least one --tunnel is required');
  const members = await Promise.all(
    options.tunnels.map((url) =>
      createTunnel(url, {
        token: options.token,
        insecure: options.insecure,
        ca: options.ca,
        compat: options.compat,
        warm: options.warm,
      }),
    ),
  );
  // The fast path carries the app's first bytes with the dial, so the local handlers can
  // answer the app at once; per-connection tunnels need the server's answer first. While no
  // mux connection is ready (tunnel down, token refused) the app gets the precise error instead.
  const muxMembers = members.filter(isMuxTunnel);
  const optimisticConnect =
    !options.exactErrors && muxMembers.length === members.length
      ? () => muxMembers.some((member) => member.sessions().ready > 0)
      : false;
  // One tunnel goes through the pool too: per-tunnel stats and health checks come with it.
  const pool = new TunnelPool(members, {
    strategy: options.strategy,
    rotation: options.rotation,
    maxFails: options.maxFails,
    failTimeoutMs: options.failTimeoutMs,
    healthIntervalMs: options.healthIntervalMs,
    stickyTtlMs: options.stickyTtlMs,
    log,
  });
  pool.start();
  const tunnel: Tunnel = pool;
  if (options.insecure) log.warn('TLS certificate verification of the tunnel is disabled (--insecure)');

  const proxies: LocalProxy[] = [];
  try {
    for (const spec of options.listen) {
      proxies.push(
        await startLocalProxy({
          spec,
          outbound: tunnel,
          log,
          timeouts: options.timeouts,
          optimisticConnect,
          outboundForConnection: () => pool.forConnection(),
        }),
      );
    }
  } catch (err) {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await tunnel.close();
    throw err;
  }
  for (const [index, proxy] of proxies.entries()) {
    const { host, port } = proxy.address;
    print(
      `seamoon connect listening on ${hostPort(host, port)} (${options.listen[index].scheme}) via ${tunnel.displayUrl}`,
    );
  }

  let timer: NodeJS.Timeout | undefined;
  const statsLines = () => [
    ...proxies.map((proxy) => `stats ${proxy.stats.render()}`),
    ...pool.stats().map((entry) => `stats ${formatTunnelStats(entry)}`),
  ];
  if (options.statsIntervalSec && options.statsIntervalSec > 0) {
    timer = setInterval(() => {
      for (const line of statsLines()) print(line);
    }, options.statsIntervalSec * 1000);
  }
  let closing: Promise<void> | undefined;
  return {
    tunnel,
    proxies,
    statsLines,
    close() {
      closing ??= (async () => {
        if (timer) clearInterval(timer);
        await Promise.all(proxies.map((proxy) => proxy.close()));
        await tunnel.close();
      })();
      return closing;
    },
  };
}

/** SIGUSR1 prints stats; SIGINT/SIGTERM close everything and exit 0. */
export function installConnectSignals(running: RunningConnect, print: (line: string) => void): void {
  process.on('SIGUSR1', () => {
    for (const line of running.statsLines()) print(line);
  });
  const shutdown = () => {
    // A second signal while closing means "now".
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void running.close().then(() => {
      print('seamoon connect stopped');
      process.exit(0);
    });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

/** `seamoon connect`: start, print, and serve until a signal. */
export async function runConnect(options: ConnectOptions): Promise<RunningConnect> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const running = await startConnect({ ...options, print });
  installConnectSignals(running, print);
  return running;
}
