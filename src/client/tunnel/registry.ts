import { SeamoonError } from '../../core/errors.js';
import type { Tunnel, TunnelOptions } from './types.js';

export type TunnelFactory = (url: URL, options: TunnelOptions) => Tunnel;

/**
 * Scheme → lazily loaded factory, so `seamoon connect` only loads the transports it uses.
 * Adding a transport is adding one line here.
 */
const loaders: Record<string, () => Promise<TunnelFactory>> = {
  'ws:': loadWsFactory,
  'wss:': loadWsFactory,
  'grpc:': async () => (await import('./grpc.js')).createGrpcTunnel,
  'grpcs:': async () => (await import('./grpc.js')).createGrpcTunnel,
  'vless:': loadV2rayFactory,
  'vmess:': loadV2rayFactory,
  'ss:': loadV2rayFactory,
};

/** seamoon servers get the multiplexed fast path; `compat` keeps the original per-connection routes. */
async function loadWsFactory(): Promise<TunnelFactory> {
  const [{ createWsTunnel }, { createWsMuxTunnel }] = await Promise.all([
    import('./ws.js'),
    import('./ws-mux.js'),
  ]);
  return (url, options) => (options.compat ? createWsTunnel(url, options) : createWsMuxTunnel(url, options));
}

/** v2ray-family share links (VLESS, VMess, Shadowsocks) to any compatible server. */
async function loadV2rayFactory(): Promise<TunnelFactory> {
  return (await import('./v2ray.js')).createV2rayTunnel;
}

export function supportedTunnelSchemes(): string[] {
  return Object.keys(loaders).map((scheme) => scheme.slice(0, -1));
}

export async function createTunnel(urlText: string, options: TunnelOptions = {}): Promise<Tunnel> {
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw new SeamoonError('BAD_ADDRESS', `not a tunnel URL: "${urlText}"`);
  }
  const load = loaders[url.protocol];
  if (!load) {
    throw new SeamoonError(
      'BAD_ADDRESS',
      `unsupported tunnel scheme "${url.protocol}" (use ${supportedTunnelSchemes().join(', ')})`,
    );
  }
  const factory = await load();
  return factory(url, options);
}
