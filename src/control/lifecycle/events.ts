import { EventEmitter } from 'node:events';

export type ObjectKind = 'provider' | 'tunnel' | 'proxy';

export interface StatusEvent {
  type: 'status';
  kind: ObjectKind;
  id: number;
  status: number;
  status_message: string;
}

export interface JobEvent {
  type: 'job';
  job_id: number;
  kind: ObjectKind;
  id: number;
  action: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  percent: number;
  message: string;
}

export interface LiveCounters {
  id: number;
  conn: number;
  bytes_up: number;
  bytes_down: number;
  /** Bytes per second over the last second. */
  rate_up: number;
  rate_down: number;
  latency_ms: number;
  last_error: string;
}

export interface StatsEvent {
  type: 'stats';
  proxies: LiveCounters[];
  tunnels: LiveCounters[];
}

export type ConsoleEvent = StatusEvent | JobEvent | StatsEvent;

/** Fan-out of console events to SSE clients (and tests). Listeners must not throw. */
export class EventBus {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Every open console tab is one listener; the default cap of 10 is too low to be useful.
    this.#emitter.setMaxListeners(0);
  }

  emit(event: ConsoleEvent): void {
    this.#emitter.emit('event', event);
  }

  subscribe(listener: (event: ConsoleEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
