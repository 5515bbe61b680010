import type { Duplex } from 'node:stream';

export interface RelayCounters {
  /** Bytes app → target, reported as they flow. */
  onUp?(bytes: number): void;
  /** Bytes target → app, reported as they flow. */
  onDown?(bytes: number): void;
}

export interface RelayOptions extends RelayCounters {
  /** Close both sides after this long without traffic in either direction (0 = never). */
  idleTimeoutMs?: number;
}

export interface RelayResult {
  up: number;
  down: number;
}

/** After both directions ended, how long queued bytes may take to flush before we give up. */
const FLUSH_LIMIT_MS = 30_000;

/**
 * Pipes `app` ⇄ `target` with backpressure and half-close: when one side ends its
 * writing, the other side's writable is ended too (after its queued bytes), and the relay
 * finishes once both directions have flushed, or as soon as either side errors or is reset
 * (then both are destroyed).
 */
export function relay(app: Duplex, target: Duplex, options: RelayOptions = {}): Promise<RelayResult> {
  return new Promise((resolve) => {
    const result: RelayResult = { up: 0, down: 0 };
    let finished = false;
    let flushedDirections = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    let flushTimer: NodeJS.Timeout | undefined;
    const idleMs = options.idleTimeoutMs ?? 0;

    const touch = () => {
      if (idleMs > 0 && idleTimer) idleTimer.refresh();
    };
    if (idleMs > 0) {
      idleTimer = setTimeout(() => finish(), idleMs);
      idleTimer.unref();
    }

    const finish = () => {
      if (finished) return;
      finished = true;
      if (idleTimer) clearTimeout(idleTimer);
      if (flushTimer) clearTimeout(flushTimer);
      app.off('data', onAppData);
      target.off('data', onTargetData);
      app.destroy();
      target.destroy();
      resolve(result);
    };

    const pump = (from: Duplex, to: Duplex, count: (n: number) => void) => (chunk: Buffer) => {
      count(chunk.length);
      touch();
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    };
    const onAppData = pump(app, target, (n) => {
      result.up += n;
      options.onUp?.(n);
    });
    const onTargetData = pump(target, app, (n) => {
      result.down += n;
      options.onDown?.(n);
    });

    const directionFlushed = () => {
      flushedDirections += 1;
      if (flushedDirections === 2) finish();
    };
    // A direction is done when the reading side ended AND everything we wrote to the other
    // side has been flushed ('finish'); destroying earlier would drop queued bytes.
    const onEnd = (to: Duplex) => () => {
      if (to.writableFinished || to.destroyed) {
        directionFlushed();
        return;
      }
      to.once('finish', directionFlushed);
      if (!to.writableEnded) to.end();
      if (app.readableEnded && target.readableEnded && !flushTimer) {
        flushTimer = setTimeout(finish, FLUSH_LIMIT_MS);
        flushTimer.unref();
      }
    };

    app.on('data', onAppData);
    target.on('data', onTargetData);
    app.once('end', onEnd(target));
    target.once('end', onEnd(app));
    for (const side of [app, target]) {
      side.once('error', finish);
      // Closed without ending its readable first means a reset: tear everything down.
      side.once('close', () => {
        if (!side.readableEnded) finish();
      });
    }
  });
}
