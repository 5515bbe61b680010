import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { ConsoleEvent } from '../../lifecycle/events.js';
import type { AuthEnv } from '../auth.js';
import type { ApiContext } from '../context.js';

const KEEPALIVE_MS = 15_000;
/** A client that cannot keep up gets dropped rather than buffering without bound. */
const MAX_QUEUED = 1000;

/** `GET /events`: status changes, job progress and per-second stats as Server-Sent Events. */
export function eventRoutes(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get('/', (c) =>
    streamSSE(c, async (stream) => {
      const queue: ConsoleEvent[] = [{ type: 'stats', ...ctx.stats.latest() }];
      let wake: (() => void) | undefined;
      let closed = false;
      const unsubscribe = ctx.events.subscribe((event) => {
        if (queue.length >= MAX_QUEUED) {
          closed = true;
        } else {
          queue.push(event);
        }
        wake?.();
      });
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        while (!closed) {
          const event = queue.shift();
          if (event) {
            await stream.writeSSE({ event: event.type, data: JSON.stringify(event) });
            continue;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, KEEPALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
          if (queue.length === 0 && !closed) await stream.write(': keepalive\n\n');
        }
      } finally {
        unsubscribe();
      }
    }),
  );
  return app;
}
