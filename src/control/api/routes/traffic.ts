import type { Hono } from 'hono';
import type { AuthEnv } from '../auth.js';
import type { ApiContext } from '../context.js';
import { ok, pathId } from '../http.js';

/** At most a week of per-minute samples per request. */
const MAX_MINUTES = 7 * 24 * 60;

/**
 * `GET /:id/traffic?minutes=N`: the per-minute traffic samples of one proxy or tunnel, the last
 * hour unless asked otherwise. `load` answers 404 for an unknown id.
 */
export function addTrafficRoute(
  app: Hono<AuthEnv>,
  ctx: ApiContext,
  kind: 'proxy' | 'tunnel',
  load: (id: number) => Promise<unknown>,
): void {
  app.get('/:id/traffic', async (c) => {
    const id = pathId(c);
    await load(id);
    const minutes = Math.min(MAX_MINUTES, Math.max(1, Number(c.req.query('minutes') ?? 60) || 60));
    const rows = await ctx.repos.samples.list(kind, id, Math.floor(Date.now() / 60_000) - minutes);
    return ok(c, rows, rows.length);
  });
}
