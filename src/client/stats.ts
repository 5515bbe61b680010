import type { ErrorCode } from '../core/errors.js';
import type { RelayCounters } from '../core/relay.js';

export interface ListenerStatsSnapshot {
  label: string;
  active: number;
  total: number;
  bytesUp: number;
  bytesDown: number;
  errors: Partial<Record<ErrorCode, number>>;
}

/**
 * Counters for one local listener. Bytes are added by the relay as they flow, so a long
 * download shows progress while it runs, not only when it closes.
 */
export class ListenerStats {
  label: string;
  active = 0;
  total = 0;
  bytesUp = 0;
  bytesDown = 0;
  readonly #errors = new Map<ErrorCode, number>();

  constructor(label: string) {
    this.label = label;
  }

  /** Counters to hand to the protocol handler's relay. */
  readonly counters: RelayCounters = {
    onUp: (bytes) => {
      this.bytesUp += bytes;
    },
    onDown: (bytes) => {
      this.bytesDown += bytes;
    },
  };

  connectionOpened(): void {
    this.active += 1;
    this.total += 1;
  }

  connectionClosed(): void {
    this.active = Math.max(0, this.active - 1);
  }

  recordError(code: ErrorCode): void {
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  snapshot(): ListenerStatsSnapshot {
    return {
      label: this.label,
      active: this.active,
      total: this.total,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      errors: Object.fromEntries(this.#errors),
    };
  }

  /** One line for a terminal or a log. */
  render(): string {
    const errors = [...this.#errors].map(([code, count]) => `${code}=${count}`).join(' ');
    return (
      `${this.label}: active ${this.active}, total ${this.total}, ` +
      `up ${formatBytes(this.bytesUp)} (${this.bytesUp}), down ${formatBytes(this.bytesDown)} (${this.bytesDown}), ` +
      `errors ${errors === '' ? 'none' : errors}`
    );
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}
