import type { Duplex } from 'node:stream';
import type { Target } from '../../core/address.js';
import { type ErrorCode, SeamoonError, toSeamoonError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { DialOptions, Outbound, UdpSession } from '../../outbound/types.js';
import type { Tunnel, TunnelHealth } from '../tunnel/types.js';
import { FailureTracker } from './failure-tracker.js';
import { meterStream } from './meter.js';
import { type Candidate, createStrategy, type Strategy } from './strategies.js';

/**
 * Errors that say "this tunnel is in trouble" (the next tunnel may well succeed) rather than
 * "this target is unreachable" (it would be on any tunnel, and retrying would only add delay).
 */
const TUNNEL_FAULTS: ReadonlySet<ErrorCode> = new Set([
  'TUNNEL_UNAVAILABLE',
  'AUTH_FAILED',
  'CLOSED',
  'HANDSHAKE_TIMEOUT',
]);

export type Rotation = 'connection' | 'request';

export interface TunnelPoolOptions {
  /** `round-robin` (default), `random`, `sticky`, `least-latency`. */
  strategy?: string;
  /**
   * `connection` (default): all requests of one app connection share a tunnel.
   * `request`: every request is placed anew (plain HTTP requests on a kept-alive connection too).
   */
  rotation?: Rotation;
  /** How long a site stays on its tunnel with `sticky` (default 10 min). */
  stickyTtlMs?: number;
  /** Failures before a tunnel leaves the rotation (gost `maxFails`, default 1). */
  maxFails?: number;
  /** How long a failed tunnel stays out (gost `failTimeout`, default 10 s). */
  failTimeoutMs?: number;
  /** Health check period (default 30 s; 0 = only live failure counting). */
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  log?: Logger;
}

export interface TunnelStats {
  url: string;
  /** Undefined until the first health check answered. */
  healthy?: boolean;
  /** Out of rotation because of recent dial failures. */
  failing: boolean;
  latencyMs?: number;
  version?: string;
  active: number;
  total: number;
  failures: number;
  bytesUp: number;
  bytesDown: number;
  lastError?: string;
}

class Member {
  readonly index: number;
  readonly tunnel: Tunnel;
  readonly failures: FailureTracker;
  healthy: boolean | undefined;
  latencyMs: number | undefined;
  version: string | undefined;
  active = 0;
  total = 0;
  failureCount = 0;
  bytesUp = 0;
  bytesDown = 0;
  lastError: string | undefined;

  constructor(index: number, tunnel: Tunnel, failures: FailureTracker) {
    this.index = index;
    this.tunnel = tunnel;
    this.failures = failures;
  }

  get inRotation(): boolean {
    return this.healthy !== false && !this.failures.isFailed();
  }

  candidate(): Candidate {
    return { index: this.index, latencyMs: this.latencyMs, active: this.active };
  }
}

/**
 * Several tunnels as one Outbound: each new connection goes to a tunnel chosen by the
 * strategy among those in rotation (healthy and not failing). A dial that fails because of
 * the tunnel is retried on the next one before the app ever sees an error; the failure counts
 * against the tunnel (maxFails/failTimeout), and periodic health checks take tunnels out of
 * the rotation and bring them back.
 */
export class TunnelPool implements Tunnel {
  readonly name: string;
  readonly displayUrl: string;
  readonly rotation: Rotation;
  readonly #members: Member[];
  readonly #strategy: Strategy;
  readonly #options: TunnelPoolOptions;
  #healthTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(tunnels: Tunnel[], options: TunnelPoolOptions = {}) {
    if (tunnels.length === 0)
      throw new SeamoonError('BAD_REQUEST', 'a tunnel pool needs at least one tunnel');
    this.#options = options;
    this.rotation = options.rotation ?? 'connection';
    this.#strategy = createStrategy(options.strategy ?? 'round-robin', { stickyTtlMs: options.stickyTtlMs });
    this.#members = tunnels.map(
      (tunnel, index) =>
        new Member(
          index,
          tunnel,
          new FailureTracker({ maxFails: options.maxFails, failTimeoutMs: options.failTimeoutMs }),
        ),
    );
    this.name = `pool(${this.#strategy.name}, ${tunnels.length})`;
    this.displayUrl =
      tunnels.length === 1
        ? tunnels[0].displayUrl
        : `${this.#strategy.name} pool of ${tunnels.map((t) => t.displayUrl).join(', ')}`;
  }

  /** Healthy when any tunnel is; the latency is the best one's. */
  async health(options?: { timeoutMs?: number }): Promise<TunnelHealth> {
    const results = await Promise.all(
      this.#members.map((m) =>
        m.tunnel
          .health(options)
          .catch(
            (err: unknown): TunnelHealth => ({ ok: false, latencyMs: 0, error: toSeamoonError(err).message }),
          ),
      ),
    );
    const ok = results.filter((r) => r.ok);
    if (ok.length === 0) return { ok: false, latencyMs: 0, error: results.map((r) => r.error).join('; ') };
    return { ok: true, latencyMs: Math.min(...ok.map((r) => r.latencyMs)), version: ok[0].version };
  }

  get strategy(): string {
    return this.#strategy.name;
  }

  get tunnels(): readonly Tunnel[] {
    return this.#members.map((m) => m.tunnel);
  }

  /** Starts periodic health checks (the first one right away). */
  start(): void {
    const interval = this.#options.healthIntervalMs ?? 30_000;
    void this.checkHealth();
    if (interval > 0 && !this.#healthTimer) {
      this.#healthTimer = setInterval(() => void this.checkHealth(), interval);
      this.#healthTimer.unref();
    }
  }

  /** Probes every tunnel once; results update the rotation. */
  async checkHealth(): Promise<void> {
    const timeoutMs = this.#options.healthTimeoutMs ?? 5_000;
    await Promise.all(
      this.#members.map(async (member) => {
        let health: TunnelHealth;
        try {
          health = await member.tunnel.health({ timeoutMs });
        } catch (err) {
          health = { ok: false, latencyMs: 0, error: toSeamoonError(err).message };
        }
        if (this.#closed) return;
        const wasHealthy = member.healthy;
        member.healthy = health.ok;
        if (health.ok) {
          member.latencyMs = health.latencyMs;
          member.version = health.version;
          member.failures.recordSuccess();
        } else {
          member.lastError = health.error;
        }
        if (wasHealthy !== undefined && wasHealthy !== health.ok) {
          this.#options.log?.info(
            { tunnel: member.tunnel.displayUrl, error: health.error },
            health.ok ? 'tunnel back in rotation' : 'tunnel unhealthy, out of rotation',
          );
        }
      }),
    );
  }

  async dial(target: Target, options: DialOptions = {}): Promise<Duplex> {
    return this.#dialVia(target, options, undefined);
  }

  /**
   * An Outbound for one app connection. With `connection` rotation it keeps the tunnel its
   * first dial used (so plain HTTP requests on a kept-alive connection leave from one IP);
   * with `request` rotation every dial is placed anew.
   */
  forConnection(): Outbound {
    if (this.rotation === 'request') return this;
    let pinned: Member | undefined;
    const view: Outbound = {
      name: this.name,
      dial: async (target, options = {}) => {
        const usable = pinned?.inRotation ? pinned : undefined;
        const { stream, member } = await this.#dialWithMember(target, options, usable);
        pinned = member;
        return stream;
      },
    };
    if (this.openUdp) view.openUdp = this.openUdp.bind(this);
    return view;
  }

  async openUdp(options?: { signal?: AbortSignal }): Promise<UdpSession> {
    let lastError: SeamoonError | undefined;
    for (const member of this.#order()) {
      if (!member.tunnel.openUdp) continue;
      try {
        return await member.tunnel.openUdp(options);
      } catch (err) {
        lastError = toSeamoonError(err);
        if (!TUNNEL_FAULTS.has(lastError.code) || options?.signal?.aborted) throw lastError;
        this.#recordFailure(member, lastError);
      }
    }
    throw lastError ?? new SeamoonError('UNSUPPORTED_COMMAND', 'no tunnel in the pool carries UDP');
  }

  stats(): TunnelStats[] {
    return this.#members.map((m) => ({
      url: m.tunnel.displayUrl,
      healthy: m.healthy,
      failing: m.failures.isFailed(),
      latencyMs: m.latencyMs,
      version: m.version,
      active: m.active,
      total: m.total,
      failures: m.failureCount,
      bytesUp: m.bytesUp,
      bytesDown: m.bytesDown,
      lastError: m.lastError,
    }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#healthTimer) clearInterval(this.#healthTimer);
    await Promise.all(this.#members.map((m) => m.tunnel.close()));
  }

  async #dialVia(target: Target, options: DialOptions, preferred: Member | undefined): Promise<Duplex> {
    return (await this.#dialWithMember(target, options, preferred)).stream;
  }

  async #dialWithMember(
    target: Target,
    options: DialOptions,
    preferred: Member | undefined,
  ): Promise<{ stream: Duplex; member: Member }> {
    if (this.#closed) throw new SeamoonError('TUNNEL_UNAVAILABLE', 'tunnel pool is closed');
    const tried = new Set<Member>();
    let lastError: SeamoonError | undefined;
    for (;;) {
      const member = preferred && !tried.has(preferred) ? preferred : this.#select(target, tried);
      if (!member) break;
      tried.add(member);
      member.active += 1;
      member.total += 1;
      let stream: Duplex;
      try {
        stream = await member.tunnel.dial(target, options);
      } catch (err) {
        member.active -= 1;
        const error = toSeamoonError(err);
        if (!TUNNEL_FAULTS.has(error.code) || options.signal?.aborted) throw error;
        this.#recordFailure(member, error);
        lastError = error;
        continue;
      }
      member.failures.recordSuccess();
      meterStream(stream, {
        up: (n) => {
          member.bytesUp += n;
        },
        down: (n) => {
          member.bytesDown += n;
        },
      });
      stream.once('close', () => {
        member.active -= 1;
      });
      return { stream, member };
    }
    throw lastError ?? new SeamoonError('TUNNEL_UNAVAILABLE', 'no tunnel available');
  }

  /** The strategy's pick among tunnels in rotation; if none is, any untried tunnel (best effort). */
  #select(target: Target, tried: ReadonlySet<Member>): Member | undefined {
    const untried = this.#members.filter((m) => !tried.has(m));
    if (untried.length === 0) return undefined;
    const inRotation = untried.filter((m) => m.inRotation);
    const pool = inRotation.length > 0 ? inRotation : untried;
    const chosen = this.#strategy.pick(
      pool.map((m) => m.candidate()),
      target,
    );
    return this.#members[chosen.index];
  }

  /** Tunnels in rotation first, in pool order (for UDP, which has no target to place by). */
  #order(): Member[] {
    return [...this.#members].sort((a, b) => Number(b.inRotation) - Number(a.inRotation));
  }

  #recordFailure(member: Member, error: SeamoonError): void {
    member.failures.recordFailure();
    member.failureCount += 1;
    member.lastError = error.message;
    this.#options.log?.warn(
      { tunnel: member.tunnel.displayUrl, code: error.code, failing: member.failures.isFailed() },
      `tunnel dial failed, trying the next one: ${error.message}`,
    );
  }
}
