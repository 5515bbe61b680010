/**
 * Status enums and object shapes of the console, with the original SeaMoon's numeric values so
 * existing UIs and scripts keep working.
 */
export const ProxyStatus = {
  Initializing: 1,
  Active: 2,
  Inactive: 3,
  Error: 4,
  Speeding: 5,
  Recover: 6,
  Delete: 7,
} as const;
export const TunnelStatus = {
  Initializing: 1,
  Active: 2,
  Inactive: 3,
  Error: 4,
  Waiting: 5,
  Delete: 6,
} as const;
export const ProviderStatus = {
  Create: 1,
  Success: 2,
  Failed: 3,
  Sync: 4,
  Forbidden: 5,
  SyncError: 6,
  Delete: 7,
} as const;

/** 1–5 as the original; 6+ are ours. The name is what a provider driver registers under. */
export const ProviderTypes: Record<number, string> = {
  1: 'aliyun',
  2: 'tencent',
  3: 'huawei',
  4: 'baidu',
  5: 'sealos',
  6: 'local',
  7: 'render',
  8: 'kubernetes',
};
export const LOCAL_PROVIDER_TYPE = 6;

export const PROXY_TYPES = ['mixed', 'auto', 'http', 'socks5'] as const;
export type ProxyType = (typeof PROXY_TYPES)[number];
export const TUNNEL_TYPES = ['websocket', 'grpc'] as const;

/** Non-secret tunnel settings (the original's TunnelConfig minus its secrets). */
export interface TunnelConfig {
  region: string;
  cpu: number;
  memory: number;
  instance: number;
  fc_auth_type: number;
  ssr_crypt: string;
  tls: boolean;
  tor: boolean;
  cascade_proxy: boolean;
  cascade_addr: string;
}

export const DEFAULT_TUNNEL_CONFIG: TunnelConfig = {
  region: '',
  cpu: 0,
  memory: 0,
  instance: 0,
  fc_auth_type: 1,
  ssr_crypt: 'aes-256-gcm',
  tls: false,
  tor: false,
  cascade_proxy: false,
  cascade_addr: '',
};

/** Secrets of a tunnel: encrypted at rest, never in an API response. */
export interface TunnelSecrets {
  token?: string;
  v2ray_uid?: string;
  ssr_pass?: string;
  cascade_uid?: string;
  cascade_password?: string;
}
export const TUNNEL_SECRET_KEYS = [
  'token',
  'v2ray_uid',
  'ssr_pass',
  'cascade_uid',
  'cascade_password',
] as const;

export interface CloudAuth {
  access_key?: string;
  access_secret?: string;
  token?: string;
  kube_config?: string;
}
export const CLOUD_AUTH_KEYS = ['access_key', 'access_secret', 'token', 'kube_config'] as const;

export interface ProviderRecord {
  id: number;
  name: string;
  desc: string;
  type: number;
  regions: string[];
  status: number;
  status_message: string;
  max_limit: number;
  amount: number | null;
  cost: number | null;
  created_at: string;
  updated_at: string;
}

export interface TunnelRecord {
  id: number;
  provider_id: number;
  uniq_id: string;
  name: string;
  address: string;
  port: number;
  type: string;
  status: number;
  status_message: string;
  version: string;
  v2ray_version: string;
  last_check_time: string;
  latency_ms: number;
  config: TunnelConfig;
  cascade_tunnel_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface ProxyRecord {
  id: number;
  name: string;
  type: ProxyType;
  status: number;
  status_message: string;
  listen_address: string;
  listen_port: number;
  allow_udp: boolean;
  /** The user wants it running; restored at start when `auto_start` is on. */
  enabled: boolean;
  conn: number;
  speed_up: number;
  speed_down: number;
  lag: number;
  in_bound: number;
  out_bound: number;
  last_error: string;
  tunnel_ids: number[];
  created_at: string;
  updated_at: string;
}
