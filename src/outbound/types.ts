import type { Duplex } from 'node:stream';
import type { Target } from '../core/address.js';

export interface DialOptions {
  /** Abort the dial (and destroy anything half-open). */
  signal?: AbortSignal;
  /** Give up with DIAL_TIMEOUT after this long. */
  timeoutMs?: number;
  /**
   * Bytes the app already sent. An outbound that receives them is responsible for
   * delivering them first (a tunnel may carry them in its opening frame).
   */
  firstBytes?: Buffer;
  /** Route through Tor (SM-ONION); outbounds without Tor reject with UNSUPPORTED_COMMAND. */
  onion?: boolean;
  /** Ids of the cascade servers the stream already passed (SM-HOPS); a cascade adds its own. */
  hops?: readonly string[];
}

export interface UdpOptions {
  signal?: AbortSignal;
  /** As DialOptions.hops. */
  hops?: readonly string[];
}

/** A datagram path to many targets (SOCKS5 UDP ASSOCIATE, VLESS/VMess UDP). */
export interface UdpSession {
  send(target: Target, payload: Buffer): void;
  /** Called for every datagram that comes back, with its source. */
  onMessage(listener: (source: Target, payload: Buffer) => void): void;
  onClose(listener: (err?: Error) => void): void;
  close(): void;
}

/**
 * Turns a target address into a connected byte stream, or throws a SeamoonError with a
 * code a protocol handler can map to its reply (SOCKS REP / HTTP status).
 */
export interface Outbound {
  readonly name: string;
  dial(target: Target, options?: DialOptions): Promise<Duplex>;
  /** Absent when the outbound cannot carry UDP. */
  openUdp?(options?: UdpOptions): Promise<UdpSession>;
}
