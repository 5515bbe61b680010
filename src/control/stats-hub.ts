import type { Logger } from '../core/logger.js';
import type { SamplesRepo } from './db/repos/samples.js';
import type { TrafficSamplesTable } from './db/schema.js';
import type { EventBus, LiveCounters } from './lifecycle/events.js';
import type { Lifecycle } from './lifecycle/lifecycle.js';

type Key = `${'proxy' | 'tunnel'}:${number}`;

/**
 * Turns the live counters into (a) a per-second `stats` event with rates for the console and
 * (b) a per-minute row per object in `traffic_samples` with the bytes of that minute.
 */
export class StatsHub {
  readonly #lastSecond = new Map<Key, LiveCounters>();
  readonly #lastMinute = new Map<Key, LiveCounters>();
  #secondTimer: NodeJS.Timeout | undefined;
  #minuteTimer: NodeJS.Timeout | undefined;
  #latest: { proxies: LiveCounters[]; tunnels: LiveCounters[] } = { proxies: [], tunnels: [] };

  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly samples: SamplesRepo,
    private readonly events: EventBus,
    private readonly log: Logger,
  ) {}

  start(sampleEveryMs = 60_000): void {
    this.#secondTimer = setInterval(() => this.tick(), 1000);
    this.#secondTimer.unref();
    this.#minuteTimer = setInterval(() => {
      void this.sample().catch((err) => this.log.warn(`stats sampling failed: ${String(err)}`));
    }, sampleEveryMs);
    this.#minuteTimer.unref();
  }

  /** The most recent per-second view (for `/metrics` and new SSE clients). */
  latest(): { proxies: LiveCounters[]; tunnels: LiveCounters[] } {
    return this.#latest;
  }

  tick(): void {
    const live = this.lifecycle.liveCounters();
    const withRates = (kind: 'proxy' | 'tunnel', rows: LiveCounters[]) =>
      rows.map((row) => {
        const key: Key = `${kind}:${row.id}`;
        const prev = this.#lastSecond.get(key);
        this.#lastSecond.set(key, row);
        return {
          ...row,
          rate_up: prev ? Math.max(0, row.bytes_up - prev.bytes_up) : 0,
          rate_down: prev ? Math.max(0, row.bytes_down - prev.bytes_down) : 0,
        };
      });
    this.#latest = { proxies: withRates('proxy', live.proxies), tunnels: withRates('tunnel', live.tunnels) };
    this.events.emit({ type: 'stats', ...this.#latest });
  }

  /** Writes this minute's deltas and the proxies' running totals, and drops old samples. */
  async sample(now = Date.now()): Promise<void> {
    const minute = Math.floor(now / 60_000);
    const live = this.lifecycle.liveCounters();
    const rows: TrafficSamplesTable[] = [];
    const add = (kind: 'proxy' | 'tunnel', list: LiveCounters[]) => {
      for (const row of list) {
        const key: Key = `${kind}:${row.id}`;
        const prev = this.#lastMinute.get(key);
        this.#lastMinute.set(key, row);
        // A restarted listener starts its counters at zero again: count from there.
        const up = prev && row.bytes_up >= prev.bytes_up ? row.bytes_up - prev.bytes_up : row.bytes_up;
        const down =
          prev && row.bytes_down >= prev.bytes_down ? row.bytes_down - prev.bytes_down : row.bytes_down;
        rows.push({
          kind,
          object_id: row.id,
          minute,
          bytes_up: up,
          bytes_down: down,
          conn: row.conn,
          latency_ms: row.latency_ms,
        });
      }
    };
    add('proxy', live.proxies);
    add('tunnel', live.tunnels);
    await this.samples.record(rows);
    await this.lifecycle.flushCounters();
    await this.samples.prune(minute);
  }

  stop(): void {
    if (this.#secondTimer) clearInterval(this.#secondTimer);
    if (this.#minuteTimer) clearInterval(this.#minuteTimer);
  }
}
