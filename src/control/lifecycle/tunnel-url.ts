import { isIPv6 } from 'node:net';
import type { TunnelRecord } from '../model.js';

/**
 * The URL a proxy dials for a stored tunnel: the original kept a bare host plus a `tls` flag
 * and a transport type; we also keep the port (local and Kubernetes tunnels need one).
 */
export function tunnelUrl(tunnel: Pick<TunnelRecord, 'address' | 'port' | 'type' | 'config'>): string {
  const secure = tunnel.config.tls;
  const scheme = tunnel.type === 'grpc' ? (secure ? 'grpcs' : 'grpc') : secure ? 'wss' : 'ws';
  const host = isIPv6(tunnel.address) ? `[${tunnel.address}]` : tunnel.address;
  return `${scheme}://${host}${tunnel.port > 0 ? `:${tunnel.port}` : ''}`;
}
