import { renameSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { createLogger, type Logger } from '../core/logger.js';
import type { Timeouts } from '../protocol/types.js';
import { createApiApp } from './api/app.js';
import { LoginLimiter, TokenService } from './api/auth.js';
import { openDatabase } from './db/database.js';
import { ConfigRepo } from './db/repos/config.js';
import { ProvidersRepo } from './db/repos/providers.js';
import { ProxiesRepo } from './db/repos/proxies.js';
import { SamplesRepo } from './db/repos/samples.js';
import { TunnelsRepo } from './db/repos/tunnels.js';
import { UsersRepo } from './db/repos/users.js';
import { EventBus } from './lifecycle/events.js';
import { JobRunner } from './lifecycle/jobs.js';
import { Lifecycle, type Repos } from './lifecycle/lifecycle.js';
import { ProviderRegistry } from './lifecycle/provider-registry.js';
import {
  DEFAULT_TUNNEL_CONFIG,
  LOCAL_PROVIDER_TYPE,
  ProviderStatus,
  ProxyStatus,
  TunnelStatus,
} from './model.js';
import { generatePassword, hashPassword } from './passwords.js';
import { inDataDir } from './paths.js';
import { SecretBox } from './secrets.js';
import { StatsHub } from './stats-hub.js';

export const ADMIN_USERNAME = 'seamoon';

export interface ConsoleOptions {
  dataDir: string;
  /** Console address; the stored `control_addr`/`control_port` settings when absent. */
  host?: string;
  port?: number;
  /** Port of the `mixed` proxy created on first run (0 = any free port). */
  proxyPort: number;
  /** Let the local tunnel server reach private/loopback targets (tests only). */
  allowPrivate?: boolean;
  /** First-run admin password; generated (and printed once) when absent. */
  adminPassword?: string;
  logLevel?: string;
  /** Override the `control_log` setting (a path, or a file descriptor such as 2). */
  logDestination?: string | number;
  /** How the local provider runs `seamoon server` (defaults to this process's CLI). */
  serverCommand?: { execPath: string; args: string[] };
  timeouts?: Timeouts;
  print?: (line: string) => void;
  /** Per-minute traffic sampling period (tests shorten it). */
  sampleEveryMs?: number;
}

export interface RunningConsole {
  url: string;
  port: number;
  repos: Repos;
  lifecycle: Lifecycle;
  jobs: JobRunner;
  stats: StatsHub;
  log: Logger;
  close(): Promise<void>;
}

const MAX_LOG_BYTES = 10 * 1024 * 1024;

/** Keeps one previous log: the file is appended across runs, so cap it at start. */
function rotateLog(path: string): void {
  try {
    if (statSync(path).size > MAX_LOG_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // No log yet.
  }
}

const WEB_DIR = fileURLToPath(new URL('../../web', import.meta.url));

/**
 * `seamoon client`: opens the data dir, runs migrations, makes sure an admin exists, builds
 * the lifecycle and the API, restores proxies and tunnels, and serves the console.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const { db, close: closeDb } = await openDatabase(options.dataDir);
  const box = SecretBox.open(options.dataDir);
  const config = new ConfigRepo(db, box);
  const logFile = options.logDestination ?? inDataDir(options.dataDir, await config.get('control_log'));
  if (typeof logFile === 'string') rotateLog(logFile);
  const log = createLogger({ level: options.logLevel, name: 'seamoon-console', destination: logFile });
  const repos: Repos = {
    users: new UsersRepo(db),
    config,
    providers: new ProvidersRepo(db, box),
    tunnels: new TunnelsRepo(db, box),
    proxies: new ProxiesRepo(db),
    samples: new SamplesRepo(db),
  };

  if ((await repos.users.count()) === 0) {
    const password = options.adminPassword || generatePassword();
    await repos.users.create(ADMIN_USERNAME, await hashPassword(password));
    if (options.adminPassword)
      print(`admin user "${ADMIN_USERNAME}" created with the password from SEAMOON_ADMIN_PASSWORD`);
    else
      print(
        `admin user "${ADMIN_USERNAME}" created; one-time password: ${password}  (change it in the console)`,
      );
  }

  const events = new EventBus();
  const jobs = new JobRunner(events, log);
  const registry = new ProviderRegistry({
    command: options.serverCommand,
    allowPrivate: options.allowPrivate,
  });
  const lifecycle = new Lifecycle({ repos, events, jobs, registry, log, timeouts: options.timeouts, print });
  const stats = new StatsHub(lifecycle, repos.samples, events, log);
  const tokens = new TokenService(config);
  await tokens.init();

  const host = options.host ?? (await config.get('control_addr'));
  const listenPort = options.port ?? Number(await config.get('control_port'));
  const app = createApiApp({
    repos,
    lifecycle,
    events,
    stats,
    tokens,
    limiter: new LoginLimiter(),
    log,
    webDir: WEB_DIR,
  });
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port: listenPort }) as Server;
      s.once('listening', () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    await registry.close();
    await closeDb();
    throw new Error(`cannot listen on ${host}:${listenPort}: ${(err as Error).message}`);
  }
  const port = (server.address() as AddressInfo).port;
  const hostText = host.includes(':') ? `[${host}]` : host;
  print(`seamoon console listening on ${hostText}:${port}`);
  stats.start(options.sampleEveryMs);

  // A marker rather than "the file was new": a first run interrupted half-way is redone.
  if (!(await config.flag('setup_done'))) await firstRun(repos, lifecycle, options.proxyPort);
  else await lifecycle.restore();

  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostText}:${port}`,
    port,
    repos,
    lifecycle,
    jobs,
    stats,
    log,
    close() {
      closing ??= (async () => {
        stats.stop();
        server.closeAllConnections?.();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await jobs.idle();
        await stats.sample().catch(() => undefined);
        await lifecycle.close();
        await registry.close();
        await closeDb();
        log.flush();
      })();
      return closing;
    },
  };
}

/**
 * A fresh data dir gets a working setup with no cloud account: the `local` provider, a tunnel
 * server child on loopback, and a `mixed` proxy on it.
 */
async function firstRun(repos: Repos, lifecycle: Lifecycle, proxyPort: number): Promise<void> {
  // Each step reuses what an interrupted earlier attempt already stored.
  const provider =
    (await repos.providers.findByName('local')) ??
    (await repos.providers.create({
      name: 'local',
      desc: 'tunnel servers started on this machine',
      type: LOCAL_PROVIDER_TYPE,
      regions: ['local'],
      status: ProviderStatus.Success,
      max_limit: 0,
      cloud_auth: {},
    }));
  const tunnel =
    (await repos.tunnels.findByName('local')) ??
    (await repos.tunnels.create({
      provider_id: provider.id,
      name: 'local',
      type: 'websocket',
      status: TunnelStatus.Waiting,
      port: 0,
      address: '',
      uniq_id: '',
      config: { ...DEFAULT_TUNNEL_CONFIG, region: 'local' },
      secrets: Lifecycle.withDefaultSecrets({}),
      cascade_tunnel_id: null,
    }));
  await lifecycle.deployTunnel(tunnel.id).done;
  const proxy =
    (await repos.proxies.findByName('default')) ??
    (await repos.proxies.create({
      name: 'default',
      type: 'mixed',
      status: ProxyStatus.Initializing,
      listen_address: '127.0.0.1',
      listen_port: proxyPort,
      allow_udp: true,
      tunnel_ids: [tunnel.id],
    }));
  await lifecycle.startProxy(proxy.id).done;
  await repos.config.setFlag('setup_done');
  lifecycle.startHealthChecks(Number(await repos.config.get('health_interval')) || 0);
}
