import { Hono } from 'hono';
import { VERSION } from '../../../core/version.js';
import type { AuthEnv } from '../auth.js';
import type { ApiContext } from '../context.js';
import { ok, parseWith, readBody } from '../http.js';
import { configUpdateSchema } from '../schemas.js';

export function configRoutes(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();

  app.get('/', async (c) => ok(c, { ...(await ctx.repos.config.all()), version: VERSION }));

  app.put('/', async (c) => {
    const { version: _readOnly, ...values } = parseWith(configUpdateSchema, await readBody(c));
    await ctx.repos.config.set(values);
    if (values.health_interval !== undefined) ctx.lifecycle.startHealthChecks(Number(values.health_interval));
    return ok(c, { ...(await ctx.repos.config.all()), version: VERSION });
  });

  return app;
}
