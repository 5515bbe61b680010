import { createTunnel } from '../client/tunnel/registry.js';
import type { Tunnel } from '../client/tunnel/types.js';
import { SeamoonError } from '../core/errors.js';
import { formatHops } from '../core/hops.js';
import type { Outbound } from './types.js';

export interface CascadeOptions {
  /** The next hop's tunnel URL (`wss://host`, `grpcs://host:443`, ...). */
  url: string;
  /** The next hop's bearer token. */
  token?: string;
  /** This server's id, added to the hop list (SM-HOPS) of every stream it forwards. */
  hopId?: string;
}

export interface CascadeOutbound extends Outbound {
  /** The next hop without its secret, for logs. */
  readonly displayUrl: string;
  close(): Promise<void>;
}

/**
 * Users paste the address a platform shows (`https://…`); a WebSocket tunnel needs `wss://`.
 * Other schemes (ws, wss, grpc, grpcs, vless, …) pass through unchanged.
 */
export function normalizeCascadeUrl(text: string): string {
  const trimmed = text.trim();
  if (/^https:\/\//i.test(trimmed)) return `wss://${trimmed.slice('https://'.length)}`;
  if (/^http:\/\//i.test(trimmed)) return `ws://${trimmed.slice('http://'.length)}`;
  return trimmed;
}

/**
 * Tunnels kept per distinct hop list. A server sees few: one for its own clients, one per chain
 * that reaches it. Beyond this, streams fall back to the tunnel that names only this server, which
 * still stops a loop the next time the stream reaches here.
 */
const MAX_HOP_TUNNELS = 16;

/**
 * Forwards every stream through the next tunnel server. Unlike the original, which piped raw
 * protocol bytes to `<next>/<path>` (wrong path for Shadowsocks, headers and UUIDs lost), each hop
 * terminates its own protocol and dials the target through the next hop as a client: the next hop
 * only needs its own token, SM-ONION travels as a dial option, and the last hop's egress guard is
 * the one that decides.
 *
 * Every stream tells the next hop which servers it passed (SM-HOPS: the ones it came through plus
 * `hopId`). Tunnels send that list once per connection (a multiplexed session carries many
 * streams), so there is one tunnel per distinct list.
 */
export async function createCascadeOutbound(options: CascadeOptions): Promise<CascadeOutbound> {
  const url = normalizeCascadeUrl(options.url);
  const own = options.hopId === undefined ? [] : [options.hopId];
  const open = (hops: readonly string[]) => createTunnel(url, { token: options.token, hops });
  let base: Tunnel;
  try {
    base = await open(own);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new SeamoonError('BAD_ADDRESS', `invalid cascade address: ${reason}`, { cause: err });
  }
  const tunnels = new Map<string, Promise<Tunnel>>([[formatHops(own), Promise.resolve(base)]]);
  const tunnelFor = (came: readonly string[] | undefined): Promise<Tunnel> => {
    const hops = [...(came ?? []), ...own];
    const key = formatHops(hops);
    let tunnel = tunnels.get(key);
    if (!tunnel) {
      if (tunnels.size >= MAX_HOP_TUNNELS) return Promise.resolve(base);
      tunnel = open(hops);
      tunnels.set(key, tunnel);
    }
    return tunnel;
  };

  const outbound: CascadeOutbound = {
    name: `cascade:${base.displayUrl}`,
    displayUrl: base.displayUrl,
    async dial(target, dialOptions = {}) {
      const { hops, ...rest } = dialOptions;
      return (await tunnelFor(hops)).dial(target, rest);
    },
    async close() {
      const all = await Promise.allSettled(tunnels.values());
      await Promise.all(
        all.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)),
      );
    },
  };
  if (base.openUdp) {
    outbound.openUdp = async (udpOptions = {}) => {
      const { hops, ...rest } = udpOptions;
      const tunnel = await tunnelFor(hops);
      if (!tunnel.openUdp) throw new SeamoonError('UNSUPPORTED_COMMAND', 'the next hop does not carry UDP');
      return tunnel.openUdp(rest);
    };
  }
  return outbound;
}
