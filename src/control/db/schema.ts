import type { Generated } from 'kysely';

/** Row types as stored. Secrets are columns holding SecretBox ciphertext, never plain text. */
export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  /** Original AuthType: 2 = admin (the only role so far). */
  type: number;
  last_login: string | null;
  last_addr: string | null;
  created_at: string;
  updated_at: string;
}

export interface ConfigTable {
  key: string;
  value: string;
}

/** Install-wide secrets (the JWT signing key); encrypted, never exposed by the config API. */
export interface AppSecretsTable {
  name: string;
  value: string;
}

export interface ProvidersTable {
  id: Generated<number>;
  name: string;
  desc: string;
  type: number;
  /** JSON array of region names. */
  regions: string;
  status: number;
  status_message: string;
  max_limit: number;
  amount: number | null;
  cost: number | null;
  /** SecretBox JSON bag: access_key, access_secret, token, kube_config. */
  credentials: string | null;
  created_at: string;
  updated_at: string;
}

export interface TunnelsTable {
  id: Generated<number>;
  provider_id: number;
  uniq_id: string;
  name: string;
  address: string;
  port: number;
  type: string;
  status: number;
  status_message: Generated<string>;
  version: Generated<string>;
  v2ray_version: Generated<string>;
  last_check_time: Generated<string>;
  latency_ms: Generated<number>;
  /** JSON of the non-secret TunnelConfig fields (region, cpu, memory, tls, tor, ...). */
  config: string;
  /** SecretBox JSON bag: token, v2ray_uid, ssr_pass, cascade_uid, cascade_password. */
  secrets: string | null;
  cascade_tunnel_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface ProxiesTable {
  id: Generated<number>;
  name: string;
  type: string;
  status: number;
  status_message: Generated<string>;
  listen_address: string;
  listen_port: number;
  allow_udp: Generated<number>;
  /** The user wants it running (restored at start when `auto_start` is on). */
  enabled: Generated<number>;
  conn: Generated<number>;
  speed_up: Generated<number>;
  speed_down: Generated<number>;
  lag: Generated<number>;
  in_bound: Generated<number>;
  out_bound: Generated<number>;
  last_error: Generated<string>;
  created_at: string;
  updated_at: string;
}

/** A proxy may use several tunnels (through the pool); `position` keeps the user's order. */
export interface ProxyTunnelsTable {
  proxy_id: number;
  tunnel_id: number;
  position: number;
}

/** Per-minute traffic buckets for charts, kept 7 days. */
export interface TrafficSamplesTable {
  kind: 'proxy' | 'tunnel';
  object_id: number;
  /** Unix minute (epoch seconds / 60). */
  minute: number;
  bytes_up: number;
  bytes_down: number;
  conn: number;
  latency_ms: number;
}

export interface Database {
  users: UsersTable;
  config: ConfigTable;
  app_secrets: AppSecretsTable;
  providers: ProvidersTable;
  tunnels: TunnelsTable;
  proxies: ProxiesTable;
  proxy_tunnels: ProxyTunnelsTable;
  traffic_samples: TrafficSamplesTable;
}
