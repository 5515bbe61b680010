import type { Duplex } from 'node:stream';
import type { Target } from '../core/address.js';
import { codeForSocksReply, SeamoonError } from '../core/errors.js';
import {
  AddressType,
  Command,
  decodeMethodSelection,
  decodeReply,
  decodeUserPassResponse,
  encodeGreeting,
  encodeRequest,
  encodeUserPassRequest,
  Method,
  Reply,
} from './socks5-codec.js';
import { StreamReader } from './stream-reader.js';
import type { ProxyCredentials } from './types.js';

/**
 * The client side of a SOCKS5 handshake over any byte stream (a tunnel stream to a remote
 * SOCKS5 handler, a TCP connection to Tor). After it resolves the stream carries the
 * target's bytes; nothing the server sent after its reply is lost.
 */

export interface Socks5ClientOptions {
  credentials?: ProxyCredentials;
  /** Whole handshake deadline (→ HANDSHAKE_TIMEOUT). */
  timeoutMs: number;
  /**
   * Send greeting and request in one write (one round trip instead of two). Only without
   * credentials, and only to servers known to buffer pipelined bytes (SeaMoon's handler, Tor).
   */
  pipeline?: boolean;
}

async function handshake(
  stream: Duplex,
  command: number,
  target: Target,
  options: Socks5ClientOptions,
): Promise<{ bound: Target }> {
  const reader = new StreamReader(stream, { timeoutMs: options.timeoutMs });
  try {
    const methods = options.credentials ? [Method.USER_PASS] : [Method.NO_AUTH];
    const pipelined = options.pipeline === true && !options.credentials;
    stream.write(
      pipelined
        ? Buffer.concat([encodeGreeting(methods), encodeRequest(command, target)])
        : encodeGreeting(methods),
    );
    const method = decodeMethodSelection(await reader.readExactly(2));
    if (pipelined && method !== Method.NO_AUTH)
      throw new SeamoonError('AUTH_FAILED', 'SOCKS5 server requires authentication');
    if (method === Method.USER_PASS && options.credentials) {
      stream.write(encodeUserPassRequest(options.credentials));
      const status = decodeUserPassResponse(await reader.readExactly(2));
      if (status !== 0x00) throw new SeamoonError('AUTH_FAILED', 'SOCKS5 server rejected the credentials');
    } else if (method !== Method.NO_AUTH) {
      throw new SeamoonError('AUTH_FAILED', 'SOCKS5 server accepted none of the offered methods');
    }
    if (!pipelined) stream.write(encodeRequest(command, target));
    const head = await reader.readExactly(5);
    // Five bytes in: VER REP RSV ATYP and the first address byte (a domain's length).
    const restByType: Record<number, number> = {
      [AddressType.IPV4]: 4 + 2 - 1,
      [AddressType.IPV6]: 16 + 2 - 1,
      [AddressType.DOMAIN]: head[4] + 2,
    };
    const rest = restByType[head[3]];
    if (rest === undefined)
      throw new SeamoonError('BAD_REQUEST', `SOCKS5 reply with address type ${head[3]}`);
    const reply = decodeReply(Buffer.concat([head, await reader.readExactly(rest)]));
    if (reply.reply !== Reply.SUCCEEDED)
      throw new SeamoonError(codeForSocksReply(reply.reply), `SOCKS5 server replied ${reply.reply}`);
    return { bound: reply.bound };
  } finally {
    reader.release();
  }
}

/** CONNECT through a SOCKS5 server; a failure reply throws with `codeForSocksReply(rep)`. */
export function socks5Connect(
  stream: Duplex,
  target: Target,
  options: Socks5ClientOptions,
): Promise<{ bound: Target }> {
  return handshake(stream, Command.CONNECT, target, options);
}

/**
 * UDP ASSOCIATE: `clientHint` is where the app will send datagrams from (0.0.0.0:0 if
 * unknown). Resolves with the relay address the server advertises.
 */
export function socks5UdpAssociate(
  stream: Duplex,
  clientHint: Target,
  options: Socks5ClientOptions,
): Promise<{ bound: Target }> {
  return handshake(stream, Command.UDP_ASSOCIATE, clientHint, options);
}
