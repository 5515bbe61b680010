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

/**
 * Pipes `app` ⇄ `target` with backpressure and half-close: when one side ends its
 * writing, the other side's writable is ended too, and the relay finishes when both
 * directions are done or either side errors/closes (then both are destroyed).
 */
export function relay(app: Duplex, target: Duplex, options: RelayOptions = {}): Promise<RelayResult> {
  return new Promise((resolve) => {
    const result: RelayResult = { up: 0, down: 0 };
    let finished = false;
    let endedDirections = 0;
    let idleTimer: NodeJS.Timeout | undefined;
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

    const onEnd = (to: Duplex) => () => {
      endedDirections += 1;
      if (!to.writableEnded && !to.destroyed) to.end();
      if (endedDirections === 2) finish();
    };

    app.on('data', onAppData);
    target.on('data', onTargetData);
    app.once('end', onEnd(target));
    target.once('end', onEnd(app));
    for (const side of [app, target]) {
      side.once('error', finish);
      side.once('close', () => {
        // A side closed without ending its readable first (reset): tear down.
        if (!side.readableEnded) finish();
        else if (endedDirections === 2) finish();
      });
    }
  });
}
