import { Hono } from 'hono';
import { ProviderStatus } from '../../model.js';
import type { AuthEnv } from '../auth.js';
import type { ApiContext } from '../context.js';
import { HttpError, loaderFor, ok, paging, parseWith, pathId, readBody } from '../http.js';
import { providerCreateSchema, providerUpdateSchema } from '../schemas.js';
import { providerView } from '../views.js';

/** FaaS providers deploy per region; the others take the cluster from their credentials. */
const NEEDS_REGION = new Set([1, 2]);

export function providerRoutes(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const { providers } = ctx.repos;

  const load = loaderFor('provider', (id) => providers.get(id));

  app.get('/', async (c) => {
    const { offset, limit } = paging(c);
    const rows = await providers.list(offset, limit);
    return ok(c, await Promise.all(rows.map((p) => providerView(ctx.repos, p))), await providers.count());
  });

  app.get('/active', async (c) => {
    const rows = (await providers.listAll()).filter((p) => p.status === ProviderStatus.Success);
    return ok(c, await Promise.all(rows.map((p) => providerView(ctx.repos, p))), rows.length);
  });

  app.get('/:id', async (c) => ok(c, await providerView(ctx.repos, await load(pathId(c)))));

  app.post('/', async (c) => {
    const body = parseWith(providerCreateSchema, await readBody(c));
    if (NEEDS_REGION.has(body.type) && body.regions.length === 0) {
      throw new HttpError(400, 'regions: at least one region is required for this provider type');
    }
    if (await providers.findByName(body.name))
      throw new HttpError(409, `name: provider "${body.name}" already exists`);
    const created = await providers.create({ ...body, status: ProviderStatus.Create });
    ctx.lifecycle.syncProvider(created.id);
    return ok(c, await providerView(ctx.repos, created));
  });

  app.put('/sync/:id', async (c) => {
    const id = pathId(c);
    await load(id);
    const job = ctx.lifecycle.syncProvider(id);
    const succeeded = await job.done;
    const after = await load(id);
    if (!succeeded) throw new HttpError(502, `sync failed: ${after.status_message}`);
    return ok(c, await providerView(ctx.repos, after));
  });

  app.put('/:id', async (c) => {
    const id = pathId(c);
    await load(id);
    const body = parseWith(providerUpdateSchema, await readBody(c));
    if (body.name) {
      const other = await providers.findByName(body.name);
      if (other && other.id !== id) throw new HttpError(409, `name: provider "${body.name}" already exists`);
    }
    await providers.update(id, body);
    ctx.lifecycle.syncProvider(id);
    return ok(c, await providerView(ctx.repos, await load(id)));
  });

  app.delete('/:id', async (c) => {
    const id = pathId(c);
    await load(id);
    const job = ctx.lifecycle.deleteProvider(id, { force: c.req.query('force') === '1' });
    return ok(c, { job_id: job.id });
  });

  return app;
}
