import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { renderMetrics } from '../metrics.js';
import { type AuthEnv, requireAuth } from './auth.js';
import type { ApiContext } from './context.js';
import { fail, HttpError } from './http.js';
import { configRoutes } from './routes/config.js';
import { eventRoutes } from './routes/events.js';
import { providerRoutes } from './routes/providers.js';
import { proxyRoutes } from './routes/proxies.js';
import { tunnelRoutes } from './routes/tunnels.js';
import { userRoutes } from './routes/user.js';
import { proxyView } from './views.js';

/** The console page: a fixed list, so no request path ever reaches the file system. */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
};

/** SQLite constraint failures that can only come from a request racing another one. */
function constraintStatus(err: unknown): { status: ContentfulStatusCode; msg: string } | undefined {
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return { status: 409, msg: 'name: already exists' };
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY')
    return { status: 409, msg: 'a referenced object no longer exists' };
  return undefined;
}

/**
 * The console's HTTP surface: `/api/v1/*` (JSON, bearer auth except login), `/metrics`
 * (Prometheus text) and the static page. Trailing slashes are ignored, as the original UI
 * sends both forms. Every error becomes an envelope; only our own bugs are 500.
 */
export function createApiApp(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>({
    getPath: (req) => {
      const path = new URL(req.url).pathname;
      return path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
    },
  });

  app.onError((err, c) => {
    if (err instanceof HttpError) return fail(c, err.status, err.message);
    if (err instanceof HTTPException)
      return fail(c, err.status as ContentfulStatusCode, err.message || 'bad request');
    const constraint = constraintStatus(err);
    if (constraint) return fail(c, constraint.status, constraint.msg);
    ctx.log.error({ err: err instanceof Error ? err.message : String(err), path: c.req.path }, 'api error');
    return fail(c, 500, 'internal error');
  });
  app.notFound((c) => fail(c, 404, `no route for ${c.req.method} ${c.req.path}`));

  app.use('/api/*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => {
        // The rest of the body is never read: tell the client not to reuse this connection.
        c.header('Connection', 'close');
        return fail(c, 413, 'body: larger than 1 MiB');
      },
    }),
  );

  const api = new Hono<AuthEnv>();
  api.route('/user', userRoutes(ctx));
  const auth = requireAuth(ctx.tokens);
  for (const prefix of ['/provider', '/tunnel', '/proxy', '/config', '/events']) {
    api.use(prefix, auth);
    api.use(`${prefix}/*`, auth);
  }
  api.route('/provider', providerRoutes(ctx));
  api.route('/tunnel', tunnelRoutes(ctx));
  api.route('/proxy', proxyRoutes(ctx));
  api.route('/config', configRoutes(ctx));
  api.route('/events', eventRoutes(ctx));
  app.route('/api/v1', api);

  // Counters and names only (no addresses, no secrets); the console listens on loopback.
  app.get('/metrics', async (c) => {
    const proxies = (await ctx.repos.proxies.listAll()).map((p) => ({
      ...p,
      ...proxyView(ctx.lifecycle, p),
    }));
    const body = renderMetrics(proxies, await ctx.repos.tunnels.listAll(), ctx.stats.latest());
    return c.body(body, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  app.get('*', async (c, next) => {
    const entry = STATIC_FILES[c.req.path];
    if (!entry || !ctx.webDir) return next();
    const body = await readFile(join(ctx.webDir, entry.file)).catch(() => undefined);
    if (!body) return next();
    return c.body(body, 200, {
      'Content-Type': entry.type,
      'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  });

  return app;
}
