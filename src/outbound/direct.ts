import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatTarget, type Target } from '../core/address.js';
import { SeamoonError, toSeamoonError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EgressGuard } from './egress-guard.js';
import type { DialOptions, Outbound, UdpSession } from './types.js';

/**
 * The outbound a tunnel server uses: plain TCP/UDP from this host. Every address is checked
 * by the egress guard *after* resolution, so names, odd IPv4 spellings (127.1, 2130706433)
 * and IPv4-mapped IPv6 cannot sneak past it.
 */

export interface DirectOutboundOptions {
  guard: EgressGuard;
  log: Logger;
  /** Default dial timeout when the caller gives none. */
  dialTimeoutMs?: number;
  /** A UDP session with no datagram either way for this long is closed. */
  udpIdleMs?: number;
  /** Name → addresses; the system resolver (getaddrinfo) unless given. */
  resolve?: (host: string) => Promise<string[]>;
}

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_UDP_IDLE_MS = 120_000;

/**
 * Target sockets read into (the front of) one shared buffer and hand on an exact-size copy. Node's own reads
 * allocate a fresh block per read, and pause() on such a socket does not stop reading: one more
 * block arrives before it does. With a read buffer of its own, pause() stops the socket at
 * once, so a stream whose tunnel is congested holds no extra target data. Sharing is safe
 * because the callback copies synchronously.
 *
 * A stream whose tunnel is congested still holds its latest read, so the read size shrinks as
 * targets multiply: all of them together hold about TARGET_READ_BUDGET (a few hundred streams
 * at full speed otherwise take a 64 MiB container over its limit), while a handful of streams
 * keep 64 KiB reads and their throughput.
 */
const MAX_TARGET_READ = 64 * 1024;
const MIN_TARGET_READ = 16 * 1024;
const TARGET_READ_BUDGET = 2 * 1024 * 1024;
const TARGET_READ_BUFFER = Buffer.allocUnsafe(MAX_TARGET_READ);
let openTargetSockets = 0;

function targetReadBuffer(): Buffer {
  const share = Math.floor(TARGET_READ_BUDGET / Math.max(1, openTargetSockets) / 1024) * 1024;
  return TARGET_READ_BUFFER.subarray(0, Math.min(MAX_TARGET_READ, Math.max(MIN_TARGET_READ, share)));
}

/** Every address of a host; IP literals in odd forms (127.1, 2130706433, 0x7f.1) are normalised by getaddrinfo. */
export async function systemResolve(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    const results = await lookup(host, { all: true, verbatim: true });
    return results.map((r) => r.address);
  } catch (err) {
    throw toSeamoonError(err);
  }
}

function abortError(signal: AbortSignal): SeamoonError {
  const reason = signal.reason;
  return reason instanceof SeamoonError ? reason : new SeamoonError('CLOSED', 'dial aborted');
}

function connectOnce(address: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    // Node passes stream options on to the socket; its type declarations just do not list them.
    const options: NetConnectOpts & { readableHighWaterMark: number } = {
      host: address,
      port,
      // Without this, a paused socket still reads up to its high-water mark in the background.
      readableHighWaterMark: 0,
      onread: {
        buffer: targetReadBuffer,
        // The shared read buffer is reused for the next read, so each chunk gets its own copy
        // (allocUnsafe + set is a plain memcpy; Buffer.from(view) takes a slower generic path).
        callback: (bytes, buffer) => {
          const chunk = Buffer.allocUnsafe(bytes);
          chunk.set(buffer.subarray(0, bytes));
          return socket.push(chunk);
        },
      },
    };
    const socket = netConnect(options);
    openTargetSockets += 1;
    socket.once('close', () => {
      openTargetSockets -= 1;
    });
    const cleanup = () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(toSeamoonError(err));
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(abortError(signal));
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function withDeadline<T>(
  options: DialOptions,
  defaultMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  discard: (late: T) => void,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? defaultMs;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new SeamoonError('DIAL_TIMEOUT', `dial timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onOuterAbort = () => controller.abort(new SeamoonError('CLOSED', 'dial aborted'));
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) onOuterAbort();
  try {
    // Resolution cannot be cancelled; racing it keeps the deadline honest.
    return await new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(abortError(controller.signal));
      if (controller.signal.aborted) onAbort();
      controller.signal.addEventListener('abort', onAbort, { once: true });
      work(controller.signal).then((value) => {
        // Connected in the same tick the deadline passed: nobody will use it.
        if (controller.signal.aborted) discard(value);
        else resolve(value);
      }, reject);
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

export function createDirectOutbound(options: DirectOutboundOptions): Outbound {
  const { guard, log } = options;
  const resolveAll = options.resolve ?? systemResolve;
  const defaultTimeout = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;

  async function dial(target: Target, dialOptions: DialOptions = {}): Promise<Duplex> {
    if (dialOptions.onion) throw new SeamoonError('UNSUPPORTED_COMMAND', 'Tor routing is not available here');
    const socket = await withDeadline(
      dialOptions,
      defaultTimeout,
      async (signal) => {
        const addresses = await resolveAll(target.host);
        const allowed = addresses.filter((address) => !guard.isDenied(address));
        if (allowed.length === 0) {
          log.debug({ target: formatTarget(target) }, 'egress denied');
          throw new SeamoonError('EGRESS_DENIED', `egress to ${formatTarget(target)} is not allowed`);
        }
        let lastError: SeamoonError | undefined;
        for (const address of allowed) {
          try {
            return await connectOnce(address, target.port, signal);
          } catch (err) {
            lastError = toSeamoonError(err);
            if (signal.aborted) break;
          }
        }
        throw lastError ?? new SeamoonError('HOST_UNREACHABLE', `no address for ${target.host}`);
      },
      (late) => late.destroy(),
    ).catch((err: unknown) => {
      throw toSeamoonError(err);
    });
    socket.setNoDelay(true);
    if (dialOptions.firstBytes && dialOptions.firstBytes.length > 0) socket.write(dialOptions.firstBytes);
    return socket;
  }

  async function openUdp(): Promise<UdpSession> {
    return new DirectUdpSession(guard, log, resolveAll, options.udpIdleMs ?? DEFAULT_UDP_IDLE_MS);
  }

  return { name: 'direct', dial, openUdp };
}

/**
 * One UDP socket per address family, created on first use; every datagram is resolved and
 * guard-checked on its own (a SOCKS client may name a new target in every packet).
 */
class DirectUdpSession implements UdpSession {
  readonly #guard: EgressGuard;
  readonly #log: Logger;
  readonly #resolve: (host: string) => Promise<string[]>;
  readonly #sockets = new Map<4 | 6, UdpSocket>();
  readonly #messageListeners: Array<(source: Target, payload: Buffer) => void> = [];
  readonly #closeListeners: Array<(err?: Error) => void> = [];
  readonly #idle: NodeJS.Timeout;
  #closed = false;

  constructor(guard: EgressGuard, log: Logger, resolve: (host: string) => Promise<string[]>, idleMs: number) {
    this.#guard = guard;
    this.#log = log;
    this.#resolve = resolve;
    this.#idle = setTimeout(() => this.#finish(), idleMs);
    this.#idle.unref();
  }

  send(target: Target, payload: Buffer): void {
    if (this.#closed) return;
    this.#idle.refresh();
    this.#resolve(target.host).then(
      (addresses) => {
        const address = addresses.find((a) => !this.#guard.isDenied(a));
        if (!address) {
          this.#log.debug({ target: formatTarget(target) }, 'UDP datagram dropped: egress denied');
          return;
        }
        if (this.#closed) return;
        const family = isIP(address) === 6 ? 6 : 4;
        this.#socket(family).send(payload, target.port, address, (err) => {
          if (err) this.#log.debug({ err: err.message }, 'UDP send failed');
        });
      },
      (err: unknown) => {
        this.#log.debug(
          { target: formatTarget(target), err: toSeamoonError(err).message },
          'UDP resolve failed',
        );
      },
    );
  }

  onMessage(listener: (source: Target, payload: Buffer) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: (err?: Error) => void): void {
    this.#closeListeners.push(listener);
  }

  close(): void {
    this.#finish();
  }

  #socket(family: 4 | 6): UdpSocket {
    let socket = this.#sockets.get(family);
    if (socket) return socket;
    socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('message', (payload, rinfo) => {
      this.#idle.refresh();
      const source = { host: rinfo.address, port: rinfo.port };
      for (const listener of this.#messageListeners) listener(source, payload);
    });
    socket.on('error', (err) => {
      this.#log.debug({ err: err.message }, 'UDP socket error');
      this.#finish(err);
    });
    this.#sockets.set(family, socket);
    return socket;
  }

  #finish(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idle);
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
    for (const listener of this.#closeListeners) listener(err);
  }
}
