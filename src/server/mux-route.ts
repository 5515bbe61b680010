import type { Duplex } from 'node:stream';
import { formatTarget } from '../core/address.js';
import { socksReplyFor, toSeamoonError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { relay } from '../core/relay.js';
import type { Outbound } from '../outbound/types.js';
import { StreamReader } from '../protocol/stream-reader.js';
import { endWith } from '../protocol/stream-util.js';
import type { Timeouts } from '../protocol/types.js';
import {
  decodeFastPathRequest,
  FAST_PATH_STATUS_OK,
  FastPathFlag,
  type FastPathRequest,
  fastPathHeaderLength,
} from '../transport/mux/fast-path.js';
import { YamuxSession } from '../transport/mux/session.js';
import type { StreamRoute } from './routes.js';

export interface MuxRouteDeps {
  /** The server's outbound (egress guard, Tor, cascade already applied). */
  outbound: Outbound;
  timeouts: Timeouts;
}

/** Per-stream receive window: above the spec's 256 KiB so one stream can fill a long, fat pipe. */
const SERVER_STREAM_WINDOW = 1024 * 1024;
/** Concurrent streams one client may hold on one connection. */
const MAX_STREAMS_PER_SESSION = 1024;
/** Server-side pings find clients that vanished without closing (NAT timeouts, killed laptops). */
const KEEPALIVE_MS = 30_000;
const PING_TIMEOUT_MS = 15_000;

/** Reads the fast-path header; the bytes after it stay in the stream for the relay. */
async function readRequest(
  stream: Duplex,
  timeoutMs: number,
): Promise<{ request: FastPathRequest; rest: Buffer }> {
  const reader = new StreamReader(stream, { timeoutMs });
  try {
    // ver + cmd + ATYP + (domain length) is enough to know the full header length.
    const head = await reader.peek(4);
    const length = fastPathHeaderLength(head)!;
    const { request } = decodeFastPathRequest(await reader.readExactly(length));
    const rest = reader.buffered > 0 ? await reader.readExactly(reader.buffered) : Buffer.alloc(0);
    return { request, rest };
  } finally {
    reader.release();
  }
}

/** One fast-path stream: header → dial → status byte → relay. Never throws. */
export async function serveFastPathStream(
  stream: Duplex,
  deps: MuxRouteDeps,
  log: Logger,
  sessionOnion: boolean,
): Promise<void> {
  stream.on('error', () => {}); // a reset stream surfaces as 'close'; never crash the server
  let parsed: { request: FastPathRequest; rest: Buffer };
  try {
    parsed = await readRequest(stream, deps.timeouts.handshakeMs);
  } catch (err) {
    log.debug({ err: toSeamoonError(err).message }, 'bad fast-path header');
    stream.destroy();
    return;
  }
  const { request, rest } = parsed;
  let target: Duplex;
  try {
    target = await deps.outbound.dial(request.target, {
      timeoutMs: deps.timeouts.dialMs,
      onion: sessionOnion || (request.flags & FastPathFlag.ONION) !== 0,
      firstBytes: rest.length > 0 ? rest : undefined,
    });
  } catch (err) {
    const error = toSeamoonError(err);
    log.debug({ target: formatTarget(request.target), code: error.code }, 'fast-path dial failed');
    endWith(stream, Buffer.from([socksReplyFor(error.code)]));
    return;
  }
  target.on('error', () => {});
  stream.write(Buffer.from([FAST_PATH_STATUS_OK]));
  await relay(stream, target, { idleTimeoutMs: deps.timeouts.idleMs });
}

/**
 * `/mux`: one yamux session per WebSocket; every stream the client opens is a fast-path
 * connection to a target. The route ends when the session does.
 */
export function createMuxRoute(deps: MuxRouteDeps): StreamRoute {
  return {
    name: 'mux',
    kind: 'stream',
    auth: 'token',
    handle(stream, request) {
      const session = new YamuxSession(stream, {
        role: 'server',
        maxStreamWindow: SERVER_STREAM_WINDOW,
        maxStreams: MAX_STREAMS_PER_SESSION,
        keepAliveIntervalMs: KEEPALIVE_MS,
        pingTimeoutMs: PING_TIMEOUT_MS,
        log: request.log,
      });
      const sessionOnion = Boolean(request.headers['sm-onion']);
      session.onStream((muxStream) => {
        void serveFastPathStream(muxStream, deps, request.log, sessionOnion);
      });
      return new Promise<void>((resolve) => session.onClose(() => resolve()));
    },
  };
}
