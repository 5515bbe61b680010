import type { Duplex } from 'node:stream';
import { formatTarget, type Target } from '../core/address.js';
import { type SeamoonError, socksReplyFor, toSeamoonError } from '../core/errors.js';
import { relay } from '../core/relay.js';
import { dialForClient } from './dial.js';
import {
  AddressType,
  addressLength,
  Command,
  decodeAddress,
  decodeUserPassRequest,
  encodeMethodSelection,
  encodeReply,
  encodeUserPassResponse,
  Method,
  Reply,
  SOCKS_VERSION,
  USERPASS_VERSION,
} from './socks5-codec.js';
import { StreamReader } from './stream-reader.js';
import { endWith, localAddressOf, secretEquals, whenClosed } from './stream-util.js';
import type { ProxyHandler, ProxyHandlerContext } from './types.js';

/**
 * SOCKS5 server side (RFC 1928, RFC 1929 user/pass). Every failure the app can be told about
 * gets its reply code; the stream is closed on every path.
 */

/** How long an optimistic CONNECT waits for the app's first bytes (server-first protocols send none). */
const OPTIMISTIC_WAIT_MS = 30;

interface ParsedRequest {
  command: number;
  target: Target;
}

export const handleSocks5: ProxyHandler = async (client, ctx) => {
  client.on('error', () => {}); // errors surface as 'close'; never crash the process
  const reader = new StreamReader(client, { timeoutMs: ctx.timeouts.handshakeMs });
  let request: ParsedRequest | undefined;
  try {
    if (!(await negotiate(client, reader, ctx))) return;
    request = await readRequest(client, reader);
    if (!request) return;
  } catch (err) {
    ctx.log.debug({ err: toSeamoonError(err).message }, 'SOCKS5 handshake failed');
    reader.release();
    client.destroy();
    return;
  }
  reader.clearTimeout();
  try {
    switch (request.command) {
      case Command.CONNECT:
        await (ctx.optimisticConnect
          ? connectOptimistic(client, reader, request.target, ctx)
          : connect(client, reader, request.target, ctx));
        return;
      case Command.UDP_ASSOCIATE:
        await udpAssociate(client, reader, request.target, ctx);
        return;
      default: // BIND and anything unknown
        reader.release();
        endWith(client, encodeReply(Reply.COMMAND_NOT_SUPPORTED));
    }
  } catch (err) {
    ctx.log.debug({ err: toSeamoonError(err).message }, 'SOCKS5 session failed');
    reader.release();
    client.destroy();
  }
};

/** Method negotiation and optional RFC 1929 auth. False when the stream was answered and closed. */
async function negotiate(client: Duplex, reader: StreamReader, ctx: ProxyHandlerContext): Promise<boolean> {
  const [version, count] = await reader.readExactly(2);
  if (version !== SOCKS_VERSION) {
    reader.release();
    client.destroy();
    return false;
  }
  const offered = count === 0 ? [] : [...(await reader.readExactly(count))];
  // Unknown methods (gost offers 0x80/0x82/0x88) are simply not chosen.
  let method: number = Method.NO_ACCEPTABLE;
  if (ctx.credentials) {
    if (offered.includes(Method.USER_PASS)) method = Method.USER_PASS;
  } else if (offered.includes(Method.NO_AUTH)) {
    method = Method.NO_AUTH;
  } else if (offered.includes(Method.USER_PASS)) {
    method = Method.USER_PASS; // no credentials configured: any pair is accepted
  }
  if (method === Method.NO_ACCEPTABLE) {
    reader.release();
    endWith(client, encodeMethodSelection(Method.NO_ACCEPTABLE));
    return false;
  }
  client.write(encodeMethodSelection(method));
  if (method !== Method.USER_PASS) return true;

  const head = await reader.readExactly(2);
  if (head[0] !== USERPASS_VERSION) {
    reader.release();
    endWith(client, encodeUserPassResponse(0x01));
    return false;
  }
  const user = await reader.readExactly(head[1]);
  const [passLength] = await reader.readExactly(1);
  const pass = await reader.readExactly(passLength);
  const { username, password } = decodeUserPassRequest(
    Buffer.concat([head, user, Buffer.from([passLength]), pass]),
  );
  const expected = ctx.credentials;
  // Both comparisons always run, so timing does not reveal which half was wrong.
  const userOk = expected ? secretEquals(username, expected.username) : true;
  const passOk = expected ? secretEquals(password, expected.password) : true;
  if (!(userOk && passOk)) {
    ctx.log.info('SOCKS5 authentication failed');
    reader.release();
    endWith(client, encodeUserPassResponse(0x01));
    return false;
  }
  client.write(encodeUserPassResponse(0x00));
  return true;
}

/** Reads `VER CMD RSV ATYP ADDR PORT`; answers and closes on a bad version or address type. */
async function readRequest(client: Duplex, reader: StreamReader): Promise<ParsedRequest | undefined> {
  const head = await reader.readExactly(4);
  if (head[0] !== SOCKS_VERSION) {
    reader.release();
    client.destroy();
    return undefined;
  }
  const atyp = head[3];
  if (atyp !== AddressType.IPV4 && atyp !== AddressType.IPV6 && atyp !== AddressType.DOMAIN) {
    reader.release();
    endWith(client, encodeReply(Reply.ADDRESS_NOT_SUPPORTED));
    return undefined;
  }
  let address = Buffer.from([atyp]);
  if (atyp === AddressType.DOMAIN) address = Buffer.concat([address, await reader.readExactly(1)]);
  const total = addressLength(address) as number;
  address = Buffer.concat([address, await reader.readExactly(total - address.length)]);
  let target: Target;
  try {
    target = decodeAddress(address).target;
  } catch {
    reader.release();
    endWith(client, encodeReply(Reply.ADDRESS_NOT_SUPPORTED));
    return undefined;
  }
  return { command: head[1], target };
}

async function connect(client: Duplex, reader: StreamReader, target: Target, ctx: ProxyHandlerContext) {
  let upstream: Duplex | undefined;
  try {
    upstream = await dialForClient(client, target, ctx);
  } catch (err) {
    const error = toSeamoonError(err);
    logDialFailure(ctx, target, error);
    reader.release();
    endWith(client, encodeReply(socksReplyFor(error.code)));
    return;
  }
  if (!upstream) return;
  client.write(encodeReply(Reply.SUCCEEDED, localAddressOf(upstream)));
  // Bytes the app pipelined after its request go back into the stream for the relay.
  reader.release();
  await relay(client, upstream, { ...ctx.counters, idleTimeoutMs: ctx.timeouts.idleMs });
}

/**
 * Success first, dial second: saves a round trip through a tunnel. The app's first bytes (if
 * it speaks first) ride along with the dial; a failed dial can then only close the stream.
 */
async function connectOptimistic(
  client: Duplex,
  reader: StreamReader,
  target: Target,
  ctx: ProxyHandlerContext,
) {
  client.write(encodeReply(Reply.SUCCEEDED));
  const firstBytes = await reader.readAvailable(OPTIMISTIC_WAIT_MS);
  reader.release();
  if (firstBytes.length > 0) ctx.counters?.onUp?.(firstBytes.length);
  let upstream: Duplex | undefined;
  try {
    upstream = await dialForClient(client, target, ctx, firstBytes);
  } catch (err) {
    logDialFailure(ctx, target, toSeamoonError(err));
    client.destroy();
    return;
  }
  if (!upstream) return;
  await relay(client, upstream, { ...ctx.counters, idleTimeoutMs: ctx.timeouts.idleMs });
}

async function udpAssociate(client: Duplex, reader: StreamReader, hint: Target, ctx: ProxyHandlerContext) {
  reader.release();
  if (!ctx.udp) {
    endWith(client, encodeReply(Reply.COMMAND_NOT_SUPPORTED));
    return;
  }
  // 0.0.0.0:0 / [::]:0 means "I don't know yet" (RFC 1928 §6).
  const known = hint.port !== 0 || (hint.host !== '0.0.0.0' && hint.host !== '::');
  let bound: Target;
  try {
    bound = await ctx.udp.associate(client, known ? hint : undefined);
  } catch (err) {
    const error = toSeamoonError(err);
    ctx.log.debug({ err: error.message }, 'UDP ASSOCIATE failed');
    endWith(client, encodeReply(socksReplyFor(error.code)));
    return;
  }
  client.write(encodeReply(Reply.SUCCEEDED, bound));
  // The association lives as long as the control stream; anything sent on it is ignored.
  client.resume();
  client.once('end', () => client.destroy());
  await whenClosed(client);
}

function logDialFailure(ctx: ProxyHandlerContext, target: Target, error: SeamoonError): void {
  ctx.log.debug({ target: formatTarget(target), code: error.code }, 'SOCKS5 dial failed');
}
