import type { Duplex } from 'node:stream';
import type { Target } from '../core/address.js';
import { SeamoonError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type CascadeOptions, createCascadeOutbound } from './cascade.js';
import { createTorOutbound, isOnionHost } from './tor.js';
import type { DialOptions, Outbound, UdpOptions, UdpSession } from './types.js';

export interface RouterOptions {
  /** Where ordinary traffic goes when there is no cascade (the egress-guarded direct outbound). */
  direct: Outbound;
  /** Tor's SOCKS outbound, when this server runs Tor. */
  tor?: Outbound;
  /** The next tunnel hop, when this server is a link of a chain. */
  cascade?: Outbound;
}

/**
 * The server's single outbound, choosing per stream:
 * - SM-ONION streams and `.onion` targets → Tor (or, without a local Tor, the next hop with the
 *   onion flag kept, so the chain's Tor-enabled server handles them);
 * - everything else → the next hop when cascading, otherwise direct. Nothing else ever touches Tor.
 */
export function createRouterOutbound(options: RouterOptions): Outbound {
  const { direct, tor, cascade } = options;
  const plain = cascade ?? direct;
  const router: Outbound = {
    name: 'router',
    dial(target: Target, dialOptions: DialOptions = {}): Promise<Duplex> {
      const { onion, ...rest } = dialOptions;
      if (onion === true || isOnionHost(target.host)) {
        if (tor) return tor.dial(target, rest);
        if (cascade) return cascade.dial(target, { ...rest, onion: true });
        return Promise.reject(
          onion === true
            ? new SeamoonError('UNSUPPORTED_COMMAND', 'Tor routing (SM-ONION) is not enabled on this server')
            : new SeamoonError(
                'HOST_UNREACHABLE',
                `${target.host} needs Tor, which is not enabled on this server`,
              ),
        );
      }
      return plain.dial(target, rest);
    },
  };
  const openUdp = plain.openUdp?.bind(plain);
  if (openUdp) router.openUdp = (udpOptions?: UdpOptions): Promise<UdpSession> => openUdp(udpOptions);
  return router;
}

export interface ServerOutboundConfig {
  /** Tor's SOCKS port; undefined = no Tor. */
  torSocks?: Target;
  /** Next hop; undefined = no cascade. */
  cascade?: Omit<CascadeOptions, 'hopId'>;
  /** This server's id in cascade hop lists. */
  hopId?: string;
}

export interface ServerOutbound {
  outbound: Outbound;
  /** Human-readable routing summary for the start-up log (no secrets). */
  describe: string;
  close(): Promise<void>;
}

/** Builds the router from the server's configuration around its direct outbound. */
export async function createServerOutbound(
  direct: Outbound,
  config: ServerOutboundConfig,
  log?: Logger,
): Promise<ServerOutbound> {
  const tor = config.torSocks ? createTorOutbound({ socks: config.torSocks }) : undefined;
  const cascade = config.cascade
    ? await createCascadeOutbound({ ...config.cascade, hopId: config.hopId })
    : undefined;
  const parts = [cascade ? `cascade via ${cascade.displayUrl}` : 'direct'];
  if (tor) parts.push(`onion via ${tor.name}`);
  const describe = parts.join(', ');
  log?.info({ routing: describe }, 'outbound routing');
  return {
    outbound: createRouterOutbound({ direct, tor, cascade }),
    describe,
    close: async () => {
      await cascade?.close();
    },
  };
}
