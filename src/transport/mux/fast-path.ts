import type { Target } from '../../core/address.js';
import { SeamoonError } from '../../core/errors.js';
import { addressLength, decodeAddress, encodeAddress } from '../../protocol/socks5-codec.js';

/**
 * The fast-path stream protocol, spoken on every stream of a `/mux` session (docs/mux.md).
 *
 * Client → server, the first bytes of the stream (normally in the yamux SYN frame):
 *
 *   | ver (1) = 0x01 | cmd (1) = 0x01 TCP | ATYP | ADDR | PORT (2) | flags (1) | app data ...
 *
 *   ATYP/ADDR/PORT use the SOCKS5 encoding (RFC 1928 §5: 0x01 IPv4, 0x03 length-prefixed
 *   domain, 0x04 IPv6). flags: bit 0 = route through Tor; other bits must be 0.
 *   The app's first bytes follow directly: the client never waits for an answer before
 *   sending, which is what makes a new connection cost one round trip.
 *
 * Server → client: one status byte, then the target's bytes.
 *
 *   | status (1) | target data ...
 *
 *   0x00 = connected; anything else is a SOCKS5 REP code (0x02 not allowed by the egress
 *   guard, 0x04 host unreachable, 0x05 refused, ...) and the server ends the stream.
 */
export const FAST_PATH_VERSION = 0x01;

export const FastPathCommand = {
  TCP: 0x01,
} as const;

export const FastPathFlag = {
  ONION: 0x01,
} as const;

export const FAST_PATH_STATUS_OK = 0x00;

/** ver + cmd + longest address (domain: 1 + 1 + 255 + 2) + flags. */
export const MAX_FAST_PATH_HEADER = 2 + 259 + 1;

export interface FastPathRequest {
  command: number;
  target: Target;
  flags: number;
}

export function encodeFastPathRequest(request: FastPathRequest): Buffer {
  return Buffer.concat([
    Buffer.from([FAST_PATH_VERSION, request.command]),
    encodeAddress(request.target),
    Buffer.from([request.flags]),
  ]);
}

/**
 * How many header bytes the request in `buf` needs, or undefined if `buf` is too short to
 * tell yet. Throws BAD_REQUEST / UNSUPPORTED_* for headers no amount of bytes can fix.
 */
export function fastPathHeaderLength(buf: Buffer): number | undefined {
  if (buf.length >= 1 && buf[0] !== FAST_PATH_VERSION) {
    throw new SeamoonError('BAD_REQUEST', `unsupported fast-path version ${buf[0]}`);
  }
  if (buf.length >= 2 && buf[1] !== FastPathCommand.TCP) {
    throw new SeamoonError('UNSUPPORTED_COMMAND', `unsupported fast-path command ${buf[1]}`);
  }
  const address = addressLength(buf, 2);
  return address === undefined ? undefined : 2 + address + 1;
}

/** Decodes a complete header (see `fastPathHeaderLength`); returns it and its length. */
export function decodeFastPathRequest(buf: Buffer): { request: FastPathRequest; length: number } {
  const length = fastPathHeaderLength(buf);
  if (length === undefined || buf.length < length) {
    throw new SeamoonError('BAD_REQUEST', 'truncated fast-path header');
  }
  const { target } = decodeAddress(buf, 2);
  const flags = buf[length - 1];
  if ((flags & ~FastPathFlag.ONION) !== 0) {
    throw new SeamoonError('BAD_REQUEST', `unknown fast-path flags 0x${flags.toString(16)}`);
  }
  return { request: { command: buf[1], target, flags }, length };
}
