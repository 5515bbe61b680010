import { Hono } from 'hono';
import type { z } from 'zod';
import { Lifecycle } from '../../lifecycle/lifecycle.js';
import {
  DEFAULT_TUNNEL_CONFIG,
  TUNNEL_SECRET_KEYS,
  type TunnelConfig,
  type TunnelRecord,
  type TunnelSecrets,
  TunnelStatus,
} from '../../model.js';
import type { AuthEnv } from '../auth.js';
import type { ApiContext } from '../context.js';
import { HttpError, loaderFor, ok, paging, parseWith, pathId, readBody } from '../http.js';
import { type tunnelConfigSchema, tunnelCreateSchema, tunnelUpdateSchema } from '../schemas.js';
import { tunnelView, tunnelViews } from '../views.js';
import { addTrafficRoute } from './traffic.js';

type TunnelConfigInput = z.infer<typeof tunnelConfigSchema>;

/** Splits the API's `tunnel_config` into stored settings and secrets (encrypted separately). */
function splitConfig(
  input: TunnelConfigInput,
  base: TunnelConfig,
): { config: TunnelConfig; secrets: TunnelSecrets; cascadeTunnelId: number | null | undefined } {
  const config: TunnelConfig = {
    region: input.region ?? base.region,
    cpu: input.cpu ?? base.cpu,
    memory: input.memory ?? base.memory,
    instance: input.instance ?? base.instance,
    fc_auth_type: input.fc_auth_type ?? base.fc_auth_type,
    ssr_crypt: input.ssr_crypt ?? base.ssr_crypt,
    tls: input.tls ?? base.tls,
    tor: input.tor ?? base.tor,
    cascade_proxy: input.cascade_proxy ?? base.cascade_proxy,
    cascade_addr: input.cascade_addr ?? base.cascade_addr,
  };
  const secrets: TunnelSecrets = {};
  for (const key of TUNNEL_SECRET_KEYS) {
    const value = input[key];
    if (typeof value === 'string' && value !== '') secrets[key] = value;
  }
  const cascadeTunnelId =
    input.cascade_tunnel_id === undefined
      ? undefined
      : input.cascade_tunnel_id === 0
        ? null
        : input.cascade_tunnel_id;
  return { config, secrets, cascadeTunnelId };
}

/** Validates and stores a new tunnel, then deploys it in the background (status Waiting). */
export async function createTunnel(
  ctx: ApiContext,
  input: z.infer<typeof tunnelCreateSchema>,
): Promise<TunnelRecord> {
  const { tunnels, providers } = ctx.repos;
  const provider = await providers.get(input.provider_id);
  if (!provider) throw new HttpError(404, `provider_id: provider ${input.provider_id} not found`);
  if (await tunnels.findByName(input.name))
    throw new HttpError(409, `name: tunnel "${input.name}" already exists`);
  if (provider.max_limit > 0 && (await tunnels.countByProvider(provider.id)) >= provider.max_limit) {
    throw new HttpError(
      409,
      `provider_id: provider "${provider.name}" allows at most ${provider.max_limit} tunnels`,
    );
  }
  const { config, secrets, cascadeTunnelId } = splitConfig(input.tunnel_config, DEFAULT_TUNNEL_CONFIG);
  if (cascadeTunnelId && !(await tunnels.get(cascadeTunnelId))) {
    throw new HttpError(404, `tunnel_config.cascade_tunnel_id: tunnel ${cascadeTunnelId} not found`);
  }
  const created = await tunnels.create({
    provider_id: provider.id,
    name: input.name,
    type: input.type,
    status: TunnelStatus.Waiting,
    port: input.port,
    address: '',
    uniq_id: '',
    config,
    secrets: Lifecycle.withDefaultSecrets(secrets),
    cascade_tunnel_id: cascadeTunnelId ?? null,
  });
  ctx.lifecycle.deployTunnel(created.id);
  return created;
}

export function tunnelRoutes(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const { tunnels } = ctx.repos;

  const load = loaderFor('tunnel', (id) => tunnels.get(id));

  app.get('/', async (c) => {
    const { offset, limit } = paging(c);
    return ok(c, await tunnelViews(ctx.repos, await tunnels.list(offset, limit)), await tunnels.count());
  });

  app.get('/:id', async (c) => ok(c, await tunnelView(ctx.repos, await load(pathId(c)))));

  app.get('/:id/dependents', async (c) => {
    const id = pathId(c);
    await load(id);
    const rows = await tunnels.dependents(id);
    return ok(c, await tunnelViews(ctx.repos, rows), rows.length);
  });

  /** Runs a health check now and answers with the updated tunnel. */
  app.get('/:id/health', async (c) => {
    const id = pathId(c);
    const tunnel = await load(id);
    if (tunnel.address === '') throw new HttpError(409, 'tunnel is not deployed');
    await ctx.lifecycle.requestHealthCheck(id).done;
    return ok(c, await tunnelView(ctx.repos, await load(id)));
  });

  addTrafficRoute(app, ctx, 'tunnel', load);

  app.post('/', async (c) => {
    const body = parseWith(tunnelCreateSchema, await readBody(c));
    return ok(c, await tunnelView(ctx.repos, await createTunnel(ctx, body)));
  });

  app.put('/:id', async (c) => {
    const id = pathId(c);
    const current = await load(id);
    const body = parseWith(tunnelUpdateSchema, await readBody(c));
    if (body.name && body.name !== current.name && (await tunnels.findByName(body.name))) {
      throw new HttpError(409, `name: tunnel "${body.name}" already exists`);
    }
    const split = body.tunnel_config ? splitConfig(body.tunnel_config, current.config) : undefined;
    if (split?.cascadeTunnelId === id) {
      throw new HttpError(400, 'tunnel_config.cascade_tunnel_id: a tunnel cannot cascade to itself');
    }
    if (split?.cascadeTunnelId && !(await tunnels.get(split.cascadeTunnelId))) {
      throw new HttpError(404, `tunnel_config.cascade_tunnel_id: tunnel ${split.cascadeTunnelId} not found`);
    }
    await tunnels.update(id, {
      name: body.name,
      port: body.port,
      config: split?.config,
      cascade_tunnel_id: split?.cascadeTunnelId,
    });
    if (split && Object.keys(split.secrets).length > 0) await tunnels.mergeSecrets(id, split.secrets);
    if (body.status === TunnelStatus.Inactive) ctx.lifecycle.stopTunnel(id);
    else if (body.status !== undefined) ctx.lifecycle.deployTunnel(id);
    return ok(c, await tunnelView(ctx.repos, await load(id)));
  });

  app.delete('/:id', async (c) => {
    const id = pathId(c);
    await load(id);
    // `?force=1` removes the row even when the platform refuses to destroy the deployment.
    const job = ctx.lifecycle.deleteTunnel(id, { force: c.req.query('force') === '1' });
    return ok(c, { job_id: job.id });
  });

  return app;
}
