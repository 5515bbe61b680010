import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatTarget, parseTarget, type Target } from '../core/address.js';
import { httpStatusFor, SeamoonError, toSeamoonError } from '../core/errors.js';
import { relay } from '../core/relay.js';
import { dialForClient } from './dial.js';
import { StreamReader } from './stream-reader.js';
import { endWith, secretEquals } from './stream-util.js';
import type { ProxyHandler, ProxyHandlerContext } from './types.js';

/**
 * HTTP proxy server side over any Duplex. Node's own HTTP parser does the framing (the
 * stream is handed to an unlistened http.Server), so keep-alive, chunked bodies and
 * pipelining behave like a real server. Each absolute-URI request is sent to its own host.
 */

/** Request heads larger than this are refused with 431. */
export const MAX_HEADER_BYTES = 32 * 1024;
const OPTIMISTIC_WAIT_MS = 30;

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the proxy-only ones; names listed in Connection are added per message. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * Flat `[name, value, ...]` without hop-by-hop fields. Transfer-Encoding is kept on purpose:
 * Node de-chunks each body on the way in and, seeing the header, chunks it again on the way out.
 */
function endToEndHeaders(raw: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection')
      for (const token of raw[i + 1].split(',')) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function plainResponse(status: number, extraHeaders = ''): string {
  const body = `${status} ${STATUS_CODES[status] ?? ''}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${extraHeaders}` +
    `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

const PROXY_AUTHENTICATE = 'Proxy-Authenticate: Basic realm="seamoon"\r\n';

function authorized(req: IncomingMessage, ctx: ProxyHandlerContext): boolean {
  const expected = ctx.credentials;
  if (!expected) return true;
  const header = req.headers['proxy-authorization'];
  const match = typeof header === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : '';
  const pass = colon >= 0 ? decoded.slice(colon + 1) : '';
  const userOk = secretEquals(user, expected.username);
  const passOk = secretEquals(pass, expected.password);
  return match !== null && colon >= 0 && userOk && passOk;
}

/** The target of an absolute-form request (`http://host[:port]/path`), or undefined if it is not one. */
function absoluteTarget(url: string): { target: Target; path: string; authority: string } | undefined {
  if (!/^http:\/\//i.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.hostname === '' || parsed.username !== '' || parsed.password !== '') return undefined;
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const port = parsed.port === '' ? 80 : Number(parsed.port);
  return { target: { host, port }, path: `${parsed.pathname}${parsed.search}`, authority: parsed.host };
}

export const handleHttpProxy: ProxyHandler = (client, ctx) =>
  new Promise<void>((resolve) => {
    client.on('error', () => {});
    const server = createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      keepAliveTimeout: 0,
      requestTimeout: 0,
      headersTimeout: 0,
      // Absolute-form requests carry their authority in the URI; Host is optional for a proxy.
      requireHostHeader: false,
    });
    const open = new Set<Duplex>();
    let waitTimer: NodeJS.Timeout | undefined;
    let busy = 0;

    /** Between requests the connection may sit idle only so long (the first head: handshake timeout). */
    const armWait = (ms: number) => {
      if (waitTimer) clearTimeout(waitTimer);
      waitTimer = ms > 0 ? setTimeout(() => client.destroy(), ms) : undefined;
      waitTimer?.unref();
    };
    const disarmWait = () => {
      if (waitTimer) clearTimeout(waitTimer);
      waitTimer = undefined;
    };
    armWait(ctx.timeouts.handshakeMs);

    client.once('close', () => {
      disarmWait();
      for (const stream of open) stream.destroy();
      server.removeAllListeners();
      resolve();
    });

    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      busy += 1;
      disarmWait();
      res.once('close', () => {
        busy -= 1;
        if (busy === 0 && !client.destroyed) armWait(ctx.timeouts.idleMs);
      });
      forwardRequest(req, res, ctx, open).catch((err: unknown) => {
        ctx.log.debug({ err: toSeamoonError(err).message }, 'HTTP forward failed');
        client.destroy();
      });
    });

    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      disarmWait();
      tunnel(req, socket, head, ctx).catch((err: unknown) => {
        ctx.log.debug({ err: toSeamoonError(err).message }, 'HTTP CONNECT failed');
        socket.destroy();
      });
    });

    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      disarmWait();
      forwardUpgrade(req, socket, head, ctx).catch((err: unknown) => {
        ctx.log.debug({ err: toSeamoonError(err).message }, 'HTTP upgrade failed');
        socket.destroy();
      });
    });

    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      ctx.log.debug({ err: err.code ?? err.message }, 'malformed HTTP request');
      // Only answer when no response is half-written on this connection.
      const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (!socket.writable || inFlight?.headersSent) {
        socket.destroy();
        return;
      }
      endWith(socket, plainResponse(err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400));
    });

    server.emit('connection', client);
  });

async function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ProxyHandlerContext,
  open: Set<Duplex>,
): Promise<void> {
  const fail = (status: number, extraHeaders: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'text/plain', ...extraHeaders });
    res.end(`${status} ${STATUS_CODES[status] ?? ''}\n`);
    // The request body (if any) was not read; the connection cannot be reused safely.
    if (!req.complete) res.once('finish', () => req.socket.destroy());
  };
  if (!authorized(req, ctx)) {
    fail(407, { 'Proxy-Authenticate': 'Basic realm="seamoon"' });
    return;
  }
  const destination = absoluteTarget(req.url ?? '');
  if (!destination) {
    fail(400);
    return;
  }
  const { target, path, authority } = destination;

  let dialed: Duplex | undefined;
  try {
    dialed = await dialForClient(req.socket, target, ctx);
  } catch (err) {
    const error = toSeamoonError(err);
    ctx.log.debug({ target: formatTarget(target), code: error.code }, 'HTTP proxy dial failed');
    if (!res.destroyed) fail(httpStatusFor(error.code));
    return;
  }
  if (!dialed) return;
  const upstream = dialed;
  open.add(upstream);
  upstream.once('close', () => open.delete(upstream));
  if (res.destroyed) {
    upstream.destroy();
    return;
  }

  // A request/response that stops moving for idleMs is torn down like an idle relay.
  const idle =
    ctx.timeouts.idleMs > 0
      ? setTimeout(() => {
          upstream.destroy();
          res.destroy();
        }, ctx.timeouts.idleMs)
      : undefined;
  idle?.unref();
  const touch = () => idle?.refresh();

  // RFC 9112 §3.2.2: the absolute URI's authority wins over any Host the client sent.
  const headers = endToEndHeaders(req.rawHeaders).filter((_, i, all) => {
    const nameIndex = i % 2 === 0 ? i : i - 1;
    return all[nameIndex].toLowerCase() !== 'host';
  });
  const outgoing = httpRequest({
    method: req.method,
    path,
    headers: ['Host', authority, ...headers],
    // No agent: with `createConnection` Node uses the dialed stream for this one request.
    createConnection: () => upstream as Socket,
    setHost: false,
  });
  outgoing.on('error', (err) => {
    ctx.log.debug({ target: formatTarget(target), err: err.message }, 'upstream request failed');
    if (!res.headersSent) fail(502);
    else res.destroy();
    upstream.destroy();
  });
  outgoing.on('response', (incoming: IncomingMessage) => {
    incoming.on('data', (chunk: Buffer) => {
      touch();
      ctx.counters?.onDown?.(chunk.length);
    });
    res.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, endToEndHeaders(incoming.rawHeaders));
    incoming.pipe(res);
    incoming.on('error', () => res.destroy());
  });
  res.once('close', () => {
    if (idle) clearTimeout(idle);
    upstream.destroy();
  });
  req.on('data', (chunk: Buffer) => {
    touch();
    ctx.counters?.onUp?.(chunk.length);
  });
  req.pipe(outgoing);
}

async function tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ProxyHandlerContext) {
  socket.on('error', () => {});
  if (!authorized(req, ctx)) {
    endWith(socket, plainResponse(407, PROXY_AUTHENTICATE));
    return;
  }
  let target: Target;
  try {
    target = parseTarget(req.url ?? '');
  } catch {
    endWith(socket, plainResponse(400));
    return;
  }
  // Bytes the app sent right after the CONNECT head come first.
  if (head.length > 0) socket.unshift(head);

  if (ctx.optimisticConnect) {
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    const reader = new StreamReader(socket);
    const firstBytes = await reader.readAvailable(OPTIMISTIC_WAIT_MS);
    reader.release();
    if (firstBytes.length > 0) ctx.counters?.onUp?.(firstBytes.length);
    const upstream = await dialFor(socket, target, ctx, firstBytes).catch(() => undefined);
    if (!upstream) {
      socket.destroy();
      return;
    }
    await relay(socket, upstream, { ...ctx.counters, idleTimeoutMs: ctx.timeouts.idleMs });
    return;
  }

  let upstream: Duplex;
  try {
    upstream = await dialFor(socket, target, ctx);
  } catch (err) {
    endWith(socket, plainResponse(httpStatusFor(toSeamoonError(err).code)));
    return;
  }
  socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
  await relay(socket, upstream, { ...ctx.counters, idleTimeoutMs: ctx.timeouts.idleMs });
}

async function dialFor(socket: Duplex, target: Target, ctx: ProxyHandlerContext, firstBytes?: Buffer) {
  try {
    const upstream = await dialForClient(socket, target, ctx, firstBytes);
    if (!upstream) throw new SeamoonError('CLOSED', 'client left during the dial');
    return upstream;
  } catch (err) {
    const error = toSeamoonError(err);
    ctx.log.debug({ target: formatTarget(target), code: error.code }, 'HTTP CONNECT dial failed');
    throw error;
  }
}

/**
 * `GET http://host/path` with `Upgrade:` (plain ws:// through an HTTP proxy): the head is
 * re-sent in origin-form with Connection/Upgrade kept (the upgrade is end-to-end here), then
 * both sides are piped raw and the origin's answer goes back unchanged.
 */
async function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ProxyHandlerContext) {
  socket.on('error', () => {});
  if (!authorized(req, ctx)) {
    endWith(socket, plainResponse(407, PROXY_AUTHENTICATE));
    return;
  }
  const destination = absoluteTarget(req.url ?? '');
  if (!destination) {
    endWith(socket, plainResponse(400));
    return;
  }
  const kept = new Set(['connection', 'upgrade']);
  const lines: string[] = [`${req.method} ${destination.path} HTTP/1.1`, `Host: ${destination.authority}`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (name === 'host' || (HOP_BY_HOP.has(name) && !kept.has(name))) continue;
    lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  const requestHead = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  let upstream: Duplex;
  try {
    upstream = await dialFor(socket, destination.target, ctx, Buffer.concat([requestHead, head]));
  } catch (err) {
    endWith(socket, plainResponse(httpStatusFor(toSeamoonError(err).code)));
    return;
  }
  await relay(socket, upstream, { ...ctx.counters, idleTimeoutMs: ctx.timeouts.idleMs });
}
