import type { Logger } from '../../core/logger.js';
import type { EventBus, ObjectKind } from './events.js';

export interface JobContext {
  progress(percent: number, message: string): void;
}

export interface JobHandle {
  id: number;
  /** Settles when the job finished; never rejects (failures are reported, not thrown). */
  done: Promise<boolean>;
}

/**
 * Runs lifecycle work (deploy, destroy, sync, start/stop, speed test) in the background.
 * Jobs on the same object run one after another, in submission order; jobs on different
 * objects run concurrently, so a 60 s deploy never holds up anything else.
 */
export class JobRunner {
  #nextId = 1;
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #running = new Set<Promise<unknown>>();

  constructor(
    private readonly events: EventBus,
    private readonly log: Logger,
  ) {}

  submit(
    kind: ObjectKind,
    objectId: number,
    action: string,
    work: (ctx: JobContext) => Promise<void>,
  ): JobHandle {
    const id = this.#nextId++;
    const key = `${kind}:${objectId}`;
    const report = (state: 'queued' | 'running' | 'done' | 'failed', percent: number, message: string) =>
      this.events.emit({ type: 'job', job_id: id, kind, id: objectId, action, state, percent, message });
    report('queued', 0, action);
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const done = previous.then(async () => {
      report('running', 0, action);
      try {
        await work({ progress: (percent, message) => report('running', percent, message) });
        report('done', 100, `${action} finished`);
        return true;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.log.warn({ kind, id: objectId, action }, `job failed: ${message}`);
        report('failed', 100, message);
        return false;
      }
    });
    this.#tails.set(key, done);
    this.#running.add(done);
    void done.finally(() => {
      this.#running.delete(done);
      if (this.#tails.get(key) === done) this.#tails.delete(key);
    });
    return { id, done };
  }

  /** Waits for every job already submitted (used at shutdown and in tests). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }
}
