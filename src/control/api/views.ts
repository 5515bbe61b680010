import type { Lifecycle, Repos } from '../lifecycle/lifecycle.js';
import { type ProviderRecord, ProviderTypes, type ProxyRecord, type TunnelRecord } from '../model.js';

/** `ProviderApi`: credentials are never part of it. */
export async function providerView(repos: Repos, p: ProviderRecord) {
  return {
    id: p.id,
    created_at: p.created_at,
    updated_at: p.updated_at,
    name: p.name,
    desc: p.desc,
    type: p.type,
    type_name: ProviderTypes[p.type] ?? 'unknown',
    regions: p.regions,
    info: { amount: p.amount, cost: p.cost },
    status: p.status,
    status_message: p.status_message,
    count: await repos.tunnels.countByProvider(p.id),
    max_limit: p.max_limit,
  };
}

/** `TunnelApi`: settings without secrets; `secret_fields` says which secrets are set. */
export async function tunnelView(repos: Repos, t: TunnelRecord, providerTypes?: Map<number, number>) {
  const providerType =
    providerTypes?.get(t.provider_id) ?? (await repos.providers.get(t.provider_id))?.type ?? 0;
  return {
    id: t.id,
    provider_id: t.provider_id,
    provider_type: providerType,
    uniq_id: t.uniq_id,
    created_at: t.created_at,
    updated_at: t.updated_at,
    name: t.name,
    address: t.address,
    port: t.port,
    type: t.type,
    status: t.status,
    status_message: t.status_message,
    version: t.version,
    v2ray_version: t.v2ray_version,
    last_check_time: t.last_check_time,
    latency_ms: t.latency_ms,
    tunnel_config: { ...t.config, cascade_tunnel_id: t.cascade_tunnel_id ?? 0 },
    secret_fields: await repos.tunnels.secretNames(t.id),
  };
}

export async function tunnelViews(repos: Repos, tunnels: TunnelRecord[]) {
  const types = new Map((await repos.providers.listAll()).map((p) => [p.id, p.type]));
  return Promise.all(tunnels.map((t) => tunnelView(repos, t, types)));
}

/** `ProxyApi` plus the tunnels it uses and the port it really bound. */
export function proxyView(lifecycle: Lifecycle, p: ProxyRecord) {
  const live = lifecycle.liveProxy(p);
  return {
    id: live.id,
    created_at: live.created_at,
    updated_at: live.updated_at,
    name: live.name,
    type: live.type,
    status: live.status,
    status_message: live.status_message,
    conn: live.conn,
    speed_up: live.speed_up,
    speed_down: live.speed_down,
    lag: live.lag,
    in_bound: live.in_bound,
    out_bound: live.out_bound,
    listen_address: live.listen_address,
    listen_port: live.listen_port,
    bound_port: live.bound_port,
    allow_udp: live.allow_udp,
    enabled: live.enabled,
    tunnel_id: live.tunnel_ids[0] ?? 0,
    tunnel_ids: live.tunnel_ids,
    last_error: live.last_error,
  };
}
