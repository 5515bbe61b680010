import { Hono } from 'hono';
import { describeBindError, probePort } from '../../lifecycle/port-probe.js';
import { ProxyStatus } from '../../model.js';
import type { AuthEnv } from '../auth.js';
import type { ApiContext } from '../context.js';
import { HttpError, loaderFor, ok, paging, parseWith, pathId, readBody } from '../http.js';
import { proxyCreateSchema, proxyUpdateSchema } from '../schemas.js';
import { proxyView } from '../views.js';
import { addTrafficRoute } from './traffic.js';
import { createTunnel } from './tunnels.js';

export function proxyRoutes(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const { proxies, tunnels } = ctx.repos;

  const load = loaderFor('proxy', (id) => proxies.get(id));

  /** 409 when another proxy or another program holds the address; 400 when it cannot exist here. */
  const checkListen = async (address: string, port: number, selfId?: number) => {
    const owner = await proxies.findByListen(address, port);
    if (owner && owner.id !== selfId) {
      throw new HttpError(409, `listen_port: ${address}:${port} is already used by proxy "${owner.name}"`);
    }
    if (selfId !== undefined && ctx.lifecycle.boundPort(selfId) === port) return;
    const code = await probePort(address, port);
    if (code === 'EADDRINUSE')
      throw new HttpError(409, `listen_port: ${describeBindError(code, address, port)}`);
    if (code) throw new HttpError(400, `listen_address: ${describeBindError(code, address, port)}`);
  };

  const checkTunnels = async (ids: number[]) => {
    for (const id of ids) {
      if (!(await tunnels.get(id))) throw new HttpError(404, `tunnel_id: tunnel ${id} not found`);
    }
  };

  app.get('/', async (c) => {
    const { offset, limit } = paging(c);
    const rows = await proxies.list(offset, limit);
    return ok(
      c,
      rows.map((p) => proxyView(ctx.lifecycle, p)),
      await proxies.count(),
    );
  });

  app.get('/speed/:id', async (c) => {
    const id = pathId(c);
    const proxy = await load(id);
    if (!ctx.lifecycle.isProxyRunning(id)) throw new HttpError(409, 'proxy is not active; start it first');
    const url = await ctx.repos.config.get('speed_test_url');
    const job = ctx.lifecycle.speedTest(id, url);
    // `?wait=1` answers after the test (scripts, tests); the UI follows progress over SSE.
    if (c.req.query('wait') === '1') await job.done;
    return ok(c, { ...proxyView(ctx.lifecycle, (await proxies.get(id)) ?? proxy), job_id: job.id });
  });

  app.get('/:id', async (c) => ok(c, proxyView(ctx.lifecycle, await load(pathId(c)))));

  addTrafficRoute(app, ctx, 'proxy', load);

  app.post('/', async (c) => {
    const body = parseWith(proxyCreateSchema, await readBody(c));
    if (await proxies.findByName(body.name))
      throw new HttpError(409, `name: proxy "${body.name}" already exists`);
    const tunnelIds = body.tunnel_ids ?? (body.tunnel_id ? [body.tunnel_id] : []);
    if (tunnelIds.length === 0 && !body.tunnel_create_api) {
      throw new HttpError(400, 'tunnel_id: a proxy needs tunnel_id, tunnel_ids or tunnel_create_api');
    }
    await checkTunnels(tunnelIds);
    await checkListen(body.listen_address, body.listen_port);
    if (body.tunnel_create_api) tunnelIds.push((await createTunnel(ctx, body.tunnel_create_api)).id);
    const created = await proxies.create({
      name: body.name,
      type: body.type,
      status: ProxyStatus.Initializing,
      listen_address: body.listen_address,
      listen_port: body.listen_port,
      allow_udp: body.allow_udp,
      tunnel_ids: tunnelIds,
    });
    ctx.lifecycle.startProxy(created.id);
    return ok(c, proxyView(ctx.lifecycle, created));
  });

  app.put('/:id', async (c) => {
    const id = pathId(c);
    const current = await load(id);
    const body = parseWith(proxyUpdateSchema, await readBody(c));
    if (body.name && body.name !== current.name && (await proxies.findByName(body.name))) {
      throw new HttpError(409, `name: proxy "${body.name}" already exists`);
    }
    const tunnelIds = body.tunnel_ids ?? (body.tunnel_id ? [body.tunnel_id] : undefined);
    if (tunnelIds) await checkTunnels(tunnelIds);
    const address = body.listen_address ?? current.listen_address;
    const port = body.listen_port ?? current.listen_port;
    const listenChanged = address !== current.listen_address || port !== current.listen_port;
    if (listenChanged) await checkListen(address, port, id);
    await proxies.update(id, {
      name: body.name,
      type: body.type,
      listen_address: body.listen_address,
      listen_port: body.listen_port,
      allow_udp: body.allow_udp,
      tunnel_ids: tunnelIds,
    });
    const settingsChanged = listenChanged || body.type !== undefined || tunnelIds !== undefined;
    if (body.status === ProxyStatus.Inactive) ctx.lifecycle.stopProxy(id);
    else if (body.status === ProxyStatus.Active || (settingsChanged && ctx.lifecycle.isProxyRunning(id))) {
      // Editing a running proxy restarts its listener (the original kept the old one running).
      ctx.lifecycle.startProxy(id);
    }
    return ok(c, proxyView(ctx.lifecycle, await load(id)));
  });

  app.delete('/:id', async (c) => {
    const id = pathId(c);
    await load(id);
    await ctx.lifecycle.deleteProxy(id).done;
    return ok(c, null);
  });

  return app;
}
