import type { Duplex } from 'node:stream';
import type { Target } from '../core/address.js';
import type { Logger } from '../core/logger.js';
import type { RelayCounters } from '../core/relay.js';
import type { Outbound } from '../outbound/types.js';

export interface Timeouts {
  /** From accept to a parsed request (SOCKS greeting+request, HTTP head). */
  handshakeMs: number;
  /** Dialing the target through the outbound. */
  dialMs: number;
  /** No bytes either way for this long closes the relay (0 = never). */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { handshakeMs: 10_000, dialMs: 10_000, idleMs: 300_000 };

/** Local proxy credentials (RFC 1929 for SOCKS5, Basic + 407 for HTTP). */
export interface ProxyCredentials {
  username: string;
  password: string;
}

/** What a SOCKS5 handler does with UDP ASSOCIATE. */
export interface UdpAssociator {
  /**
   * Sets up the association for the client behind `control` and returns the address the
   * reply advertises. The association ends when `control` closes.
   */
  associate(control: Duplex, clientHint: Target | undefined): Promise<Target>;
}

export interface ProxyHandlerContext {
  outbound: Outbound;
  log: Logger;
  timeouts: Timeouts;
  /** Require these credentials from the app (local listeners only). */
  credentials?: ProxyCredentials;
  /** UDP ASSOCIATE support; absent → reply 0x07 command not supported. */
  udp?: UdpAssociator;
  /**
   * Answer CONNECT success before dialing and pass the app's first bytes to the dial
   * (one round trip to the first byte through a tunnel). Dial errors then close the stream.
   */
  optimisticConnect?: boolean;
  /** Tor routing requested by the transport (SM-ONION). */
  onion?: boolean;
  counters?: RelayCounters;
}

/** A protocol handler consumes one app stream until it is done. It never throws. */
export type ProxyHandler = (client: Duplex, ctx: ProxyHandlerContext) => Promise<void>;
