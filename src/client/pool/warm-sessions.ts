import { SeamoonError, toSeamoonError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { YamuxSession } from '../../transport/mux/session.js';

export interface WarmSessionPoolOptions {
  /** Sessions kept open and ready (wstunnel's `--connection-min-idle`). */
  size: number;
  /** Opens one session (TCP + TLS + upgrade); rejects with a SeamoonError. */
  connect(): Promise<YamuxSession>;
  /**
   * Streams on the least-loaded session beyond which one more session is opened (up to
   * `size + 8`): the server refuses more than 1024 streams per connection.
   */
  busyStreams?: number;
  /** First retry delay after a failed connect; doubles up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  log?: Logger;
}

export interface WarmSessionStats {
  /** Sessions open and accepting streams. */
  ready: number;
  connecting: number;
  streams: number;
  /** Connect failures since the last success. */
  failures: number;
  lastError?: string;
  /** Last keepalive round trip on any session. */
  rttMs?: number;
}

const DEFAULT_BUSY_STREAMS = 768;
const MAX_BURST_SESSIONS = 8;

interface Waiter {
  resolve(session: YamuxSession): void;
  reject(error: SeamoonError): void;
}

/**
 * Keeps `size` mux sessions open so a new app connection never waits for TCP/TLS/upgrade.
 * A session that dies is replaced at once; failed connects are retried with exponential
 * backoff. While backing off, a dial does not wait for the next attempt: it fails fast
 * (so a pool moves on to another tunnel), but it may trigger an early attempt at most once
 * per `initialBackoffMs`.
 */
export class WarmSessionPool {
  readonly #options: WarmSessionPoolOptions;
  readonly #sessions = new Set<YamuxSession>();
  readonly #waiters = new Set<Waiter>();
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  #connecting = 0;
  #failures = 0;
  #lastError: SeamoonError | undefined;
  #lastAttemptAt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: WarmSessionPoolOptions) {
    this.#options = options;
    this.#initialBackoffMs = options.initialBackoffMs ?? 250;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  /** Starts filling the pool (idempotent). */
  start(): void {
    this.#fill();
  }

  /** The least-loaded ready session, waiting up to `timeoutMs` for one to open. */
  acquire(timeoutMs: number, signal?: AbortSignal): Promise<YamuxSession> {
    if (this.#closed) return Promise.reject(new SeamoonError('TUNNEL_UNAVAILABLE', 'tunnel is closed'));
    const ready = this.#pick();
    if (ready) {
      if (ready.streamCount >= (this.#options.busyStreams ?? DEFAULT_BUSY_STREAMS)) this.#burst();
      return Promise.resolve(ready);
    }
    if (this.#connecting === 0 && this.#retryTimer) {
      // Backing off: try once more now if the last attempt is old enough, else fail fast.
      if (Date.now() - this.#lastAttemptAt < this.#initialBackoffMs) {
        return Promise.reject(this.#unavailable());
      }
      this.#connectOne();
    }
    this.#fill();
    return new Promise<YamuxSession>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        resolve: (session) => {
          done();
          resolve(session);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new SeamoonError('TUNNEL_UNAVAILABLE', `no tunnel connection within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      const onAbort = () => waiter.reject(new SeamoonError('CLOSED', 'dial aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  stats(): WarmSessionStats {
    let ready = 0;
    let streams = 0;
    let rttMs: number | undefined;
    for (const session of this.#sessions) {
      if (session.acceptsNewStreams) ready += 1;
      streams += session.streamCount;
      rttMs = session.lastRttMs ?? rttMs;
    }
    return {
      ready,
      connecting: this.#connecting,
      streams,
      failures: this.#failures,
      lastError: this.#lastError?.message,
      rttMs,
    };
  }

  /** Any open session, for a ping. */
  anySession(): YamuxSession | undefined {
    return this.#pick();
  }

  close(): void {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const waiter of [...this.#waiters])
      waiter.reject(new SeamoonError('TUNNEL_UNAVAILABLE', 'tunnel closed'));
    for (const session of [...this.#sessions]) session.close();
    this.#sessions.clear();
  }

  #pick(): YamuxSession | undefined {
    let best: YamuxSession | undefined;
    for (const session of this.#sessions) {
      if (!session.acceptsNewStreams) {
        // Went away: let its streams finish, then drop it.
        if (session.streamCount === 0) session.close();
        continue;
      }
      if (!best || session.streamCount < best.streamCount) best = session;
    }
    return best;
  }

  /** Every session is busy: open one more, beyond the warm size, unless backing off. */
  #burst(): void {
    if (this.#closed || this.#retryTimer || this.#connecting > 0) return;
    if (this.#sessions.size >= this.#options.size + MAX_BURST_SESSIONS) return;
    this.#connectOne();
  }

  #readyCount(): number {
    let ready = 0;
    for (const session of this.#sessions) if (session.acceptsNewStreams) ready += 1;
    return ready;
  }

  #fill(): void {
    if (this.#closed || this.#retryTimer) return;
    while (this.#readyCount() + this.#connecting < this.#options.size) this.#connectOne();
  }

  #connectOne(): void {
    this.#connecting += 1;
    this.#lastAttemptAt = Date.now();
    this.#options.connect().then(
      (session) => {
        this.#connecting -= 1;
        if (this.#closed) {
          session.close();
          return;
        }
        this.#failures = 0;
        this.#lastError = undefined;
        if (this.#retryTimer) clearTimeout(this.#retryTimer);
        this.#retryTimer = undefined;
        this.#sessions.add(session);
        session.onClose((error) => {
          this.#sessions.delete(session);
          if (error) this.#options.log?.debug({ err: error.message }, 'mux session closed');
          this.#fill();
        });
        for (const waiter of [...this.#waiters]) waiter.resolve(session);
        this.#fill();
      },
      (err: unknown) => {
        this.#connecting -= 1;
        this.#failures += 1;
        this.#lastError = toSeamoonError(err);
        if (this.#closed) return;
        if (this.#readyCount() === 0 && this.#connecting === 0) {
          for (const waiter of [...this.#waiters]) waiter.reject(this.#unavailable());
        }
        this.#scheduleRetry();
      },
    );
  }

  #scheduleRetry(): void {
    if (this.#retryTimer || this.#closed) return;
    const delay = Math.min(
      this.#maxBackoffMs,
      this.#initialBackoffMs * 2 ** Math.min(this.#failures - 1, 16),
    );
    this.#options.log?.debug({ delayMs: delay, failures: this.#failures }, 'mux reconnect scheduled');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#fill();
    }, delay);
    this.#retryTimer.unref();
  }

  #unavailable(): SeamoonError {
    const last = this.#lastError;
    // The server answered and refused us (token, cascade loop): that answer is the error,
    // not "unavailable" — retrying elsewhere or later will not change it.
    if (last && (last.code === 'AUTH_FAILED' || last.code === 'EGRESS_DENIED')) return last;
    return new SeamoonError('TUNNEL_UNAVAILABLE', last ? last.message : 'tunnel not connected', {
      cause: last,
    });
  }
}
