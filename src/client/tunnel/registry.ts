import { SeamoonError } from '../../core/errors.js';
import type { Tunnel, TunnelOptions } from './types.js';

export type TunnelFactory = (url: URL, options: TunnelOptions) => Tunnel;

/**
 * Scheme → lazily loaded factory, so `seamoon connect` only loads the transports it uses.
 * Adding a transport is adding one line here.
 */
const loaders: Record<string, () => Promise<TunnelFactory>> = {
  'ws:': async () => (await import('./ws.js')).createWsTunnel,
  'wss:': async () => (await import('./ws.js')).createWsTunnel,
};

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
