import { randomBytes, randomUUID } from 'node:crypto';
import { type LocalProxy, startLocalProxy } from '../../client/local-proxy.js';
import { TunnelPool } from '../../client/pool/tunnel-pool.js';
import { createTunnel } from '../../client/tunnel/registry.js';
import type { Tunnel } from '../../client/tunnel/types.js';
import { isMuxTunnel } from '../../client/tunnel/ws-mux.js';
import { SeamoonError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Outbound } from '../../outbound/types.js';
import type { Timeouts } from '../../protocol/types.js';
import type { ProviderCallContext, TunnelDeployRequest } from '../../providers/types.js';
import type { ConfigRepo } from '../db/repos/config.js';
import type { ProvidersRepo } from '../db/repos/providers.js';
import type { ProxiesRepo } from '../db/repos/proxies.js';
import type { SamplesRepo } from '../db/repos/samples.js';
import type { TunnelsRepo } from '../db/repos/tunnels.js';
import type { UsersRepo } from '../db/repos/users.js';
import {
  DEFAULT_TUNNEL_CONFIG,
  ProviderStatus,
  type ProxyRecord,
  ProxyStatus,
  type TunnelRecord,
  type TunnelSecrets,
  TunnelStatus,
} from '../model.js';
import { countingOutbound, TrafficCounter } from './counting-outbound.js';
import type { EventBus, LiveCounters, ObjectKind } from './events.js';
import type { JobHandle, JobRunner } from './jobs.js';
import { describeBindError } from './port-probe.js';
import type { ProviderRegistry } from './provider-registry.js';
import { runSpeedTest } from './speed-test.js';
import { tunnelUrl } from './tunnel-url.js';

export interface Repos {
  users: UsersRepo;
  config: ConfigRepo;
  providers: ProvidersRepo;
  tunnels: TunnelsRepo;
  proxies: ProxiesRepo;
  samples: SamplesRepo;
}

export interface LifecycleDeps {
  repos: Repos;
  events: EventBus;
  jobs: JobRunner;
  registry: ProviderRegistry;
  log: Logger;
  timeouts?: Timeouts;
  /** Where `proxy <name> listening on HOST:PORT` lines go. */
  print?: (line: string) => void;
}

/** One tunnel's live client: the Tunnel object is replaced on redeploy, the outbound stays. */
interface TunnelRuntime {
  counter: TrafficCounter;
  tunnel?: Tunnel;
  latencyMs: number;
  /** What proxies dial through; resolves the current Tunnel on every dial. */
  outbound: Outbound;
}

interface RunningProxy {
  listener: LocalProxy;
  outbound: Outbound;
  /** Present when the proxy spreads over several tunnels. */
  pool?: TunnelPool;
  /** Totals stored before this start; live counters add to them. */
  baseIn: number;
  baseOut: number;
}

const HEALTH_TIMEOUT_MS = 10_000;

/** A tunnel token: 32 random bytes, URL-safe (it travels in a header or a query string). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The state machine of providers → tunnels → proxies. Each action returns a JobHandle at
 * once; the work runs as a job (serialized per object, progress on the event bus) and every
 * outcome lands in the row's status and status_message.
 */
export class Lifecycle {
  readonly #tunnels = new Map<number, TunnelRuntime>();
  readonly #proxies = new Map<number, RunningProxy>();
  readonly #repos: Repos;
  readonly #log: Logger;
  #healthTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(private readonly deps: LifecycleDeps) {
    this.#repos = deps.repos;
    this.#log = deps.log;
  }

  // ── status plumbing ──────────────────────────────────────────────────────────────────

  private async setStatus(kind: ObjectKind, id: number, status: number, message = ''): Promise<void> {
    const repo =
      kind === 'provider'
        ? this.#repos.providers
        : kind === 'tunnel'
          ? this.#repos.tunnels
          : this.#repos.proxies;
    await repo.setStatus(id, status, message.slice(0, 1000));
    this.deps.events.emit({ type: 'status', kind, id, status, status_message: message });
  }

  private submit(
    kind: ObjectKind,
    id: number,
    action: string,
    work: Parameters<JobRunner['submit']>[3],
  ): JobHandle {
    return this.deps.jobs.submit(kind, id, action, work);
  }

  // ── tunnels ──────────────────────────────────────────────────────────────────────────

  private runtime(id: number): TunnelRuntime {
    const existing = this.#tunnels.get(id);
    if (existing) return existing;
    const counter = new TrafficCounter();
    // Resolved on every dial, so a redeploy (new address) needs no proxy restart.
    const current = (): Tunnel => {
      const tunnel = this.#tunnels.get(id)?.tunnel;
      if (!tunnel) throw new SeamoonError('TUNNEL_UNAVAILABLE', `tunnel ${id} is not active`);
      return tunnel;
    };
    const delegate: Outbound = {
      name: `tunnel-${id}`,
      dial: (target, options) => current().dial(target, options),
      openUdp: async (options) => {
        const tunnel = current();
        if (!tunnel.openUdp) throw new SeamoonError('UNSUPPORTED_COMMAND', 'this tunnel does not carry UDP');
        return tunnel.openUdp(options);
      },
    };
    const rt: TunnelRuntime = { counter, latencyMs: 0, outbound: countingOutbound(delegate, counter) };
    this.#tunnels.set(id, rt);
    return rt;
  }

  /** (Re)creates the client for a deployed tunnel from its stored address and token. */
  private async connectTunnel(record: TunnelRecord): Promise<void> {
    const rt = this.runtime(record.id);
    const secrets = await this.#repos.tunnels.secrets(record.id);
    const next = await createTunnel(tunnelUrl(record), { token: secrets.token, onion: record.config.tor });
    const previous = rt.tunnel;
    rt.tunnel = next;
    if (previous) await previous.close().catch(() => undefined);
  }

  private async disconnectTunnel(id: number): Promise<void> {
    const rt = this.#tunnels.get(id);
    if (!rt?.tunnel) return;
    const tunnel = rt.tunnel;
    rt.tunnel = undefined;
    await tunnel.close().catch(() => undefined);
  }

  private async providerContext(providerId: number): Promise<{ ctx: ProviderCallContext; type: number }> {
    const provider = await this.#repos.providers.get(providerId);
    if (!provider) throw new SeamoonError('BAD_REQUEST', `provider ${providerId} does not exist`);
    const credentials = await this.#repos.providers.credentials(providerId);
    return {
      type: provider.type,
      ctx: { credentials, regions: provider.regions, log: this.#log.child({ provider: provider.name }) },
    };
  }

  /** Fills generated secrets the original also generated (UUID, SS password) plus our token. */
  static withDefaultSecrets(secrets: TunnelSecrets): TunnelSecrets {
    return {
      ...secrets,
      token: secrets.token || generateToken(),
      v2ray_uid: secrets.v2ray_uid || randomUUID(),
      ssr_pass: secrets.ssr_pass || randomBytes(12).toString('base64url'),
    };
  }

  private deployEnv(record: TunnelRecord, secrets: TunnelSecrets): Record<string, string> {
    const env: Record<string, string> = {};
    if (secrets.token) env.SM_TOKEN = secrets.token;
    if (secrets.v2ray_uid) env.SM_UID = secrets.v2ray_uid;
    if (secrets.ssr_pass) {
      env.SM_SS_PASS = secrets.ssr_pass;
      env.SM_SS_CRYPT = record.config.ssr_crypt || DEFAULT_TUNNEL_CONFIG.ssr_crypt;
    }
    if (record.config.tor) env.SEAMOON_TOR = 'true';
    if (record.config.cascade_proxy && record.config.cascade_addr) {
      env.SM_CASCADE_ADDR = record.config.cascade_addr;
      if (secrets.cascade_uid) env.SM_CASCADE_UID = secrets.cascade_uid;
    }
    return env;
  }

  /** Deploys (or redeploys) a tunnel; the row shows Waiting until the driver answers. */
  deployTunnel(id: number): JobHandle {
    return this.submit('tunnel', id, 'deploy', async ({ progress }) => {
      const record = await this.#repos.tunnels.get(id);
      if (!record) return;
      await this.setStatus('tunnel', id, TunnelStatus.Waiting, 'deploying');
      try {
        const { ctx, type } = await this.providerContext(record.provider_id);
        const driver = await this.deps.registry.driver(type);
        const secrets = await this.#repos.tunnels.secrets(id);
        const request: TunnelDeployRequest = {
          name: record.name,
          transport: record.type === 'grpc' ? 'grpc' : 'websocket',
          port: driver.ephemeral ? 0 : record.port,
          region: record.config.region,
          cpu: record.config.cpu,
          memoryMiB: record.config.memory,
          instances: record.config.instance,
          tor: record.config.tor,
          previousUniqId: record.uniq_id || undefined,
          env: this.deployEnv(record, secrets),
        };
        progress(10, `deploying with ${driver.name}`);
        await this.disconnectTunnel(id);
        const deployed = await driver.deploy(ctx, request, progress);
        await this.#repos.tunnels.update(id, {
          address: deployed.address,
          port: deployed.port,
          uniq_id: deployed.uniqId,
          config: { ...record.config, tls: deployed.tls },
        });
        const updated = await this.#repos.tunnels.get(id);
        if (updated) await this.connectTunnel(updated);
        await this.setStatus('tunnel', id, TunnelStatus.Active);
        progress(95, 'checking health');
        await this.checkTunnelHealth(id);
      } catch (err) {
        await this.setStatus('tunnel', id, TunnelStatus.Error, errorText(err));
        this.deps.print?.(`tunnel ${record.name} not deployed: ${errorText(err)}`);
        throw err;
      }
    });
  }

  /** Removes the remote deployment but keeps the row (status Inactive). */
  stopTunnel(id: number): JobHandle {
    return this.submit('tunnel', id, 'destroy', async () => {
      const record = await this.#repos.tunnels.get(id);
      if (!record) return;
      try {
        await this.destroyRemote(record);
        await this.setStatus('tunnel', id, TunnelStatus.Inactive);
      } catch (err) {
        await this.setStatus('tunnel', id, TunnelStatus.Error, errorText(err));
        throw err;
      }
    });
  }

  private async destroyRemote(record: TunnelRecord): Promise<void> {
    await this.disconnectTunnel(record.id);
    if (!record.uniq_id) return;
    const { ctx, type } = await this.providerContext(record.provider_id);
    const driver = await this.deps.registry.driver(type);
    await driver.destroy(ctx, record.uniq_id);
    await this.#repos.tunnels.update(record.id, { uniq_id: '' });
  }

  /**
   * Deletes a tunnel: destroys the deployment first and keeps the row (status Error) if
   * that fails, so no billable resource is ever orphaned silently; `force` deletes the row
   * anyway (the user takes over the cleanup). Proxies that used only this tunnel are deleted
   * with it; proxies that had others are restarted without it.
   */
  deleteTunnel(id: number, options: { force?: boolean } = {}): JobHandle {
    return this.submit('tunnel', id, 'delete', async () => {
      const record = await this.#repos.tunnels.get(id);
      if (!record) return;
      const users = await this.#repos.proxies.listByTunnel(id);
      try {
        await this.destroyRemote(record);
      } catch (err) {
        if (options.force) {
          this.#log.warn({ tunnel: record.name }, `deleted without remote destroy: ${errorText(err)}`);
        } else {
          await this.setStatus(
            'tunnel',
            id,
            TunnelStatus.Error,
            `delete stopped, remote destroy failed: ${errorText(err)}`,
          );
          throw err;
        }
      }
      for (const proxy of users) {
        if (proxy.tunnel_ids.length <= 1) await this.deleteProxy(proxy.id).done;
      }
      await this.#repos.tunnels.delete(id);
      this.#tunnels.delete(id);
      this.deps.events.emit({
        type: 'status',
        kind: 'tunnel',
        id,
        status: TunnelStatus.Delete,
        status_message: '',
      });
      for (const proxy of users) {
        if (proxy.tunnel_ids.length > 1 && this.#proxies.has(proxy.id)) this.startProxy(proxy.id);
      }
    });
  }

  /**
   * Probes `/_health`. Success stores version and latency and brings a tunnel that failed
   * an earlier check back to Active; failure marks it Error with the reason.
   */
  async checkTunnelHealth(id: number): Promise<void> {
    const record = await this.#repos.tunnels.get(id);
    if (!record || record.address === '') return;
    const rt = this.runtime(id);
    if (!rt.tunnel) await this.connectTunnel(record);
    const health = await rt.tunnel!.health({ timeoutMs: HEALTH_TIMEOUT_MS });
    const now = new Date().toISOString();
    if (health.ok) {
      rt.latencyMs = health.latencyMs;
      await this.#repos.tunnels.update(id, {
        version: health.version ?? '',
        last_check_time: now,
        latency_ms: health.latencyMs,
      });
      if (record.status === TunnelStatus.Error) await this.setStatus('tunnel', id, TunnelStatus.Active);
    } else {
      rt.counter.lastError = health.error ?? 'health check failed';
      await this.#repos.tunnels.update(id, { version: '', v2ray_version: '', last_check_time: now });
      await this.setStatus('tunnel', id, TunnelStatus.Error, `health check failed: ${rt.counter.lastError}`);
    }
  }

  requestHealthCheck(id: number): JobHandle {
    return this.submit('tunnel', id, 'health', () => this.checkTunnelHealth(id));
  }

  /** Health of every deployed tunnel that should be up (Active, or Error after a failed check). */
  async checkAllTunnels(): Promise<void> {
    const tunnels = await this.#repos.tunnels.listAll();
    const due = tunnels.filter(
      (t) =>
        (t.status === TunnelStatus.Active || t.status === TunnelStatus.Error) &&
        t.uniq_id !== '' &&
        t.address !== '',
    );
    await Promise.all(due.map((t) => this.requestHealthCheck(t.id).done));
  }

  startHealthChecks(intervalSec: number): void {
    if (this.#healthTimer) clearInterval(this.#healthTimer);
    if (intervalSec <= 0) return;
    this.#healthTimer = setInterval(() => {
      void this.checkAllTunnels().catch((err) => this.#log.warn(`health round failed: ${errorText(err)}`));
    }, intervalSec * 1000);
    this.#healthTimer.unref();
  }

  // ── providers ────────────────────────────────────────────────────────────────────────

  /** Reads the account and reconciles the platform's deployments with our tunnel rows. */
  syncProvider(id: number): JobHandle {
    return this.submit('provider', id, 'sync', async ({ progress }) => {
      const provider = await this.#repos.providers.get(id);
      if (!provider) return;
      await this.setStatus('provider', id, ProviderStatus.Sync);
      try {
        const { ctx } = await this.providerContext(id);
        const driver = await this.deps.registry.driver(provider.type);
        const info = await driver.auth(ctx);
        await this.#repos.providers.setInfo(id, info.amount, info.cost);
        progress(40, 'listing deployments');
        const remote = await driver.list(ctx);
        const local = await this.#repos.tunnels.listByProvider(id);
        for (const r of remote) {
          const known = local.find((t) => t.uniq_id === r.uniqId);
          if (known) {
            const status = r.running ? TunnelStatus.Active : TunnelStatus.Inactive;
            if (known.status !== status) await this.setStatus('tunnel', known.id, status, r.message ?? '');
            continue;
          }
          const name = (await this.#repos.tunnels.findByName(r.name))
            ? `${r.name}-${r.uniqId.slice(-6)}`
            : r.name;
          await this.#repos.tunnels.create({
            provider_id: id,
            name,
            type: r.transport,
            status: r.running ? TunnelStatus.Active : TunnelStatus.Inactive,
            port: r.port,
            address: r.address,
            uniq_id: r.uniqId,
            config: { ...DEFAULT_TUNNEL_CONFIG, tls: r.tls, tor: r.tor, region: r.region },
            secrets: {},
            cascade_tunnel_id: null,
          });
        }
        await this.setStatus('provider', id, ProviderStatus.Success);
      } catch (err) {
        await this.setStatus('provider', id, ProviderStatus.SyncError, errorText(err));
        throw err;
      }
    });
  }

  /** Deletes every tunnel first; the provider row goes only when all of them are gone. */
  deleteProvider(id: number, options: { force?: boolean } = {}): JobHandle {
    return this.submit('provider', id, 'delete', async () => {
      const tunnels = await this.#repos.tunnels.listByProvider(id);
      const results = await Promise.all(tunnels.map((t) => this.deleteTunnel(t.id, options).done));
      if (results.includes(false)) {
        const message = 'some tunnels could not be deleted; see their status';
        await this.setStatus('provider', id, ProviderStatus.SyncError, message);
        throw new SeamoonError('GENERAL', message);
      }
      await this.#repos.providers.delete(id);
      this.deps.events.emit({
        type: 'status',
        kind: 'provider',
        id,
        status: ProviderStatus.Delete,
        status_message: '',
      });
    });
  }

  // ── proxies ──────────────────────────────────────────────────────────────────────────

  /** Starts (or restarts, after an edit) a proxy's listener on its tunnels. */
  startProxy(id: number): JobHandle {
    return this.submit('proxy', id, 'start', async () => {
      await this.closeListener(id);
      const record = await this.#repos.proxies.get(id);
      if (!record) return;
      await this.#repos.proxies.setEnabled(id, true);
      try {
        if (record.tunnel_ids.length === 0) throw new SeamoonError('BAD_REQUEST', 'proxy has no tunnel');
        const { outbound, pool } = this.proxyOutbound(id, record.tunnel_ids);
        // Mux tunnels carry the app's first bytes with the dial: answer the app at once.
        const optimisticConnect = record.tunnel_ids.every((tid) => {
          const tunnel = this.#tunnels.get(tid)?.tunnel;
          return tunnel !== undefined && isMuxTunnel(tunnel);
        });
        const listener = await startLocalProxy({
          spec: {
            scheme: record.type === 'auto' ? 'mixed' : record.type,
            host: record.listen_address,
            port: record.listen_port,
          },
          // Without openUdp the SOCKS5 handler answers UDP ASSOCIATE with "command not supported".
          outbound: record.allow_udp
            ? outbound
            : { name: outbound.name, dial: (t, o) => outbound.dial(t, o) },
          outboundForConnection: pool ? () => pool.forConnection() : undefined,
          optimisticConnect,
          log: this.#log.child({ proxy: record.name }),
          timeouts: this.deps.timeouts,
        }).catch(async (err: unknown) => {
          await pool?.close();
          const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
          throw code
            ? new SeamoonError(
                'BAD_ADDRESS',
                describeBindError(code, record.listen_address, record.listen_port),
              )
            : err;
        });
        this.#proxies.set(id, {
          listener,
          outbound,
          pool,
          baseIn: record.in_bound,
          baseOut: record.out_bound,
        });
        await this.setStatus('proxy', id, ProxyStatus.Active);
        const { host, port } = listener.address;
        this.deps.print?.(
          `proxy ${record.name} listening on ${host.includes(':') ? `[${host}]` : host}:${port}`,
        );
      } catch (err) {
        await this.setStatus('proxy', id, ProxyStatus.Error, errorText(err));
        this.deps.print?.(`proxy ${record.name} not started: ${errorText(err)}`);
        throw err;
      }
    });
  }

  /**
   * One tunnel: its counted handle. Several: the shared tunnel pool over the handles
   * (failover, per-connection pinning); the console's own health checks keep running too.
   */
  private proxyOutbound(id: number, tunnelIds: number[]): { outbound: Outbound; pool?: TunnelPool } {
    const handles = tunnelIds.map((tid) => this.tunnelHandle(tid));
    if (handles.length === 1) return { outbound: handles[0] };
    const pool = new TunnelPool(handles, {
      strategy: 'round-robin',
      healthIntervalMs: 30_000,
      log: this.#log.child({ proxy: id }),
    });
    pool.start();
    return { outbound: pool, pool };
  }

  /** A tunnel as the pool sees it: the counted handle, health of the current client, no ownership. */
  private tunnelHandle(id: number): Tunnel {
    const rt = this.runtime(id);
    return {
      name: rt.outbound.name,
      displayUrl: `tunnel-${id}`,
      dial: (target, options) => rt.outbound.dial(target, options),
      openUdp: rt.outbound.openUdp ? (options) => rt.outbound.openUdp!(options) : undefined,
      health: async (options) =>
        rt.tunnel
          ? rt.tunnel.health(options)
          : { ok: false, latencyMs: 0, error: `tunnel ${id} is not active` },
      // The lifecycle owns the client; a pool closing must not close it.
      close: async () => {},
    };
  }

  private async closeListener(id: number): Promise<void> {
    const running = this.#proxies.get(id);
    if (!running) return;
    this.#proxies.delete(id);
    await this.saveProxyCounters(id, running);
    await running.listener.close();
    await running.pool?.close();
  }

  stopProxy(id: number): JobHandle {
    return this.submit('proxy', id, 'stop', async () => {
      await this.closeListener(id);
      await this.#repos.proxies.setEnabled(id, false);
      await this.#repos.proxies.saveCounters(id, { conn: 0 });
      await this.setStatus('proxy', id, ProxyStatus.Inactive);
    });
  }

  deleteProxy(id: number): JobHandle {
    return this.submit('proxy', id, 'delete', async () => {
      await this.closeListener(id);
      await this.#repos.proxies.delete(id);
      this.deps.events.emit({
        type: 'status',
        kind: 'proxy',
        id,
        status: ProxyStatus.Delete,
        status_message: '',
      });
    });
  }

  /** Downloads `url` through the proxy's tunnels and stores the speed in Mbps. */
  speedTest(id: number, url: string): JobHandle {
    return this.submit('proxy', id, 'speed', async ({ progress }) => {
      const running = this.#proxies.get(id);
      if (!running) throw new SeamoonError('BAD_REQUEST', 'proxy is not running');
      await this.setStatus('proxy', id, ProxyStatus.Speeding);
      progress(10, 'downloading');
      try {
        const result = await runSpeedTest(running.outbound, url);
        await this.#repos.proxies.saveCounters(id, {
          speed_down: round2(result.mbps),
          lag: result.firstByteMs,
        });
        await this.setStatus('proxy', id, ProxyStatus.Active);
      } catch (err) {
        await this.#repos.proxies.saveCounters(id, { last_error: errorText(err) });
        await this.setStatus('proxy', id, ProxyStatus.Active, `speed test failed: ${errorText(err)}`);
        throw err;
      }
    });
  }

  isProxyRunning(id: number): boolean {
    return this.#proxies.has(id);
  }

  /** The port a running proxy actually bound (differs from the stored one when that is 0). */
  boundPort(id: number): number | undefined {
    return this.#proxies.get(id)?.listener.address.port;
  }

  /** Stored row with live counters laid over it while the proxy runs. */
  liveProxy(record: ProxyRecord): ProxyRecord & { bound_port: number | null } {
    const running = this.#proxies.get(record.id);
    if (!running) return { ...record, bound_port: null };
    const stats = running.listener.stats;
    return {
      ...record,
      conn: stats.active,
      in_bound: running.baseIn + stats.bytesDown,
      out_bound: running.baseOut + stats.bytesUp,
      bound_port: running.listener.address.port,
    };
  }

  private async saveProxyCounters(id: number, running: RunningProxy): Promise<void> {
    const stats = running.listener.stats;
    await this.#repos.proxies.saveCounters(id, {
      conn: stats.active,
      in_bound: running.baseIn + stats.bytesDown,
      out_bound: running.baseOut + stats.bytesUp,
    });
  }

  /** Persists live totals of every running proxy (called every minute and at shutdown). */
  async flushCounters(): Promise<void> {
    for (const [id, running] of this.#proxies) await this.saveProxyCounters(id, running);
  }

  /** Cumulative counters since this process started, for the stats hub. */
  liveCounters(): { proxies: LiveCounters[]; tunnels: LiveCounters[] } {
    const proxies = [...this.#proxies].map(([id, running]) => {
      const s = running.listener.stats.snapshot();
      const lastCode = Object.keys(s.errors).at(-1) ?? '';
      return {
        id,
        conn: s.active,
        bytes_up: s.bytesUp,
        bytes_down: s.bytesDown,
        rate_up: 0,
        rate_down: 0,
        latency_ms: 0,
        last_error: lastCode,
      };
    });
    const tunnels = [...this.#tunnels].map(([id, rt]) => ({
      id,
      conn: rt.counter.active,
      bytes_up: rt.counter.bytesUp,
      bytes_down: rt.counter.bytesDown,
      rate_up: 0,
      rate_down: 0,
      latency_ms: rt.latencyMs,
      last_error: rt.counter.lastError,
    }));
    return { proxies, tunnels };
  }

  // ── start and stop ───────────────────────────────────────────────────────────────────

  /**
   * Brings the stored state back to life: tunnels of ephemeral providers are redeployed,
   * other active tunnels reconnected; providers synced if `auto_sync`; proxies marked active
   * restarted if `auto_start` (otherwise marked Inactive so the rows tell the truth).
   */
  async restore(): Promise<void> {
    const config = await this.#repos.config.all();
    const providers = await this.#repos.providers.listAll();
    const tunnels = await this.#repos.tunnels.listAll();
    const deploys: Promise<boolean>[] = [];
    for (const tunnel of tunnels) {
      const provider = providers.find((p) => p.id === tunnel.provider_id);
      if (!provider) continue;
      const wanted = [TunnelStatus.Active, TunnelStatus.Waiting, TunnelStatus.Initializing].includes(
        tunnel.status as 2,
      );
      if (!wanted) continue;
      const ephemeral = await this.deps.registry
        .driver(provider.type)
        .then((d) => d.ephemeral)
        .catch(() => false);
      if (ephemeral || tunnel.status !== TunnelStatus.Active) deploys.push(this.deployTunnel(tunnel.id).done);
      else
        await this.connectTunnel(tunnel).catch((err) =>
          this.#log.warn(`tunnel ${tunnel.name}: ${errorText(err)}`),
        );
    }
    // Proxies come up once their tunnels are deployed, so the first app connection works; a
    // sync waits too, so it never mistakes a deployment in progress for an unknown one.
    await Promise.all(deploys);
    if (config.auto_sync === 'true') {
      for (const p of providers) if (p.status === ProviderStatus.Success) this.syncProvider(p.id);
    }
    const proxies = await this.#repos.proxies.listAll();
    for (const proxy of proxies) await this.#repos.proxies.saveCounters(proxy.id, { conn: 0 });
    for (const proxy of proxies) {
      const wanted = proxy.enabled;
      if (!wanted) continue;
      if (config.auto_start === 'true') {
        await this.setStatus('proxy', proxy.id, ProxyStatus.Recover);
        this.startProxy(proxy.id);
      } else {
        await this.setStatus('proxy', proxy.id, ProxyStatus.Inactive, 'auto_start is off');
      }
    }
    this.startHealthChecks(Number(config.health_interval) || 0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#healthTimer) clearInterval(this.#healthTimer);
    for (const id of [...this.#proxies.keys()]) await this.closeListener(id).catch(() => undefined);
    for (const id of [...this.#tunnels.keys()]) await this.disconnectTunnel(id);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
