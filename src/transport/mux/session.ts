import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { SeamoonError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import {
  encodeFrame,
  Flag,
  type Frame,
  FrameDecoder,
  FrameType,
  GoAwayCode,
  INITIAL_STREAM_WINDOW,
} from './frame.js';
import { type StreamHost, YamuxStream } from './stream.js';
import { type MuxTransport, muxTransport } from './transport.js';

export interface YamuxSessionOptions {
  /** The client opens odd stream ids, the server even ones (spec). */
  role: 'client' | 'server';
  /** Receive window per stream; at least the spec's 256 KiB (more = more throughput per stream on long RTTs). */
  maxStreamWindow?: number;
  /** Concurrent streams the peer may open; more are refused with RST. */
  maxStreams?: number;
  /** Ping the peer this often (0 = never) so idle-killing proxies see traffic and dead peers are noticed. */
  keepAliveIntervalMs?: number;
  /** A ping unanswered for this long closes the session. */
  pingTimeoutMs?: number;
  /** Bytes already read from the connection (e.g. WebSocket early data), consumed first. */
  initialBytes?: Buffer;
  log?: Logger;
}

interface PendingPing {
  startedAt: bigint;
  resolve(rttMs: number): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A yamux session over any Duplex, or straight over a WebSocket (see transport.ts). Streams
 * fail on their own (RST); the session fails as a whole only when the connection dies, a keepalive
 * ping goes unanswered or the peer breaks the protocol — then every stream of this
 * session (and only of this session) is destroyed with a CLOSED error.
 */
export class YamuxSession {
  readonly role: 'client' | 'server';
  readonly #conn: MuxTransport;
  readonly #streams = new Map<number, YamuxStream>();
  readonly #maxStreamWindow: number;
  readonly #maxStreams: number;
  readonly #pingTimeoutMs: number;
  readonly #decoder: FrameDecoder;
  readonly #pings = new Map<number, PendingPing>();
  readonly #streamListeners: Array<(stream: YamuxStream) => void> = [];
  readonly #closeListeners: Array<(error?: Error) => void> = [];
  readonly #log: Logger | undefined;
  readonly #host: StreamHost;
  #nextStreamId: number;
  #pingSeq = 0;
  #congested = false;
  #closed = false;
  #closeError: Error | undefined;
  #localGoAway = false;
  #remoteGoAway = false;
  #keepAlive: NodeJS.Timeout | undefined;
  #lastRttMs: number | undefined;

  /** `conn` is a byte stream, or an open WebSocket carrying one frame per message. */
  constructor(conn: Duplex | WebSocket, options: YamuxSessionOptions) {
    this.role = options.role;
    this.#conn = muxTransport(conn);
    this.#maxStreamWindow = Math.max(options.maxStreamWindow ?? INITIAL_STREAM_WINDOW, INITIAL_STREAM_WINDOW);
    this.#maxStreams = options.maxStreams ?? 4096;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 10_000;
    this.#decoder = new FrameDecoder(this.#maxStreamWindow);
    this.#nextStreamId = options.role === 'client' ? 1 : 2;
    this.#log = options.log;
    this.#host = {
      send: (frame) => this.#send(frame),
      sendData: (header, payload) => this.#sendData(header, payload),
      congested: () => this.#congested,
      forget: (stream) => {
        if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
      },
      protocolError: (message) => this.#protocolError(message),
    };

    this.#conn.start({
      data: (chunk) => this.#receive(chunk),
      drain: () => this.#onDrain(),
      closed: (reason) => this.close(new SeamoonError('CLOSED', reason)),
    });
    if (options.initialBytes && options.initialBytes.length > 0) this.#receive(options.initialBytes);

    const keepAliveMs = options.keepAliveIntervalMs ?? 0;
    if (keepAliveMs > 0) {
      this.#keepAlive = setInterval(() => {
        this.ping().catch((error: unknown) => {
          this.close(new SeamoonError('TUNNEL_UNAVAILABLE', 'mux keepalive failed', { cause: error }));
        });
      }, keepAliveMs);
      this.#keepAlive.unref();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** False once either side sent Go Away or the session closed: no new streams then. */
  get acceptsNewStreams(): boolean {
    return !this.#closed && !this.#localGoAway && !this.#remoteGoAway;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Round trip of the last answered ping. */
  get lastRttMs(): number | undefined {
    return this.#lastRttMs;
  }

  onStream(listener: (stream: YamuxStream) => void): void {
    this.#streamListeners.push(listener);
  }

  onClose(listener: (error?: Error) => void): void {
    if (this.#closed) queueMicrotask(() => listener(this.#closeError));
    else this.#closeListeners.push(listener);
  }

  /**
   * Opens a stream. The SYN rides on the first frame written in the same tick (so target
   * address and first bytes arrive with it); a stream nobody wrote to is announced with
   * an empty Window Update on the next tick.
   */
  openStream(): YamuxStream {
    if (!this.acceptsNewStreams) {
      throw new SeamoonError(
        'TUNNEL_UNAVAILABLE',
        this.#closed ? 'mux session closed' : 'mux session going away',
      );
    }
    const id = this.#nextStreamId;
    if (id > 0xffffffff) throw new SeamoonError('TUNNEL_UNAVAILABLE', 'mux stream ids exhausted');
    this.#nextStreamId += 2;
    const stream = new YamuxStream(id, this.#host, { outbound: true, maxRecvWindow: this.#maxStreamWindow });
    this.#streams.set(id, stream);
    process.nextTick(() => stream.announce());
    return stream;
  }

  /** Measures the round trip with a Ping frame. */
  ping(timeoutMs = this.#pingTimeoutMs): Promise<number> {
    if (this.#closed) return Promise.reject(new SeamoonError('CLOSED', 'mux session closed'));
    this.#pingSeq = (this.#pingSeq + 1) >>> 0;
    const id = this.#pingSeq;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new SeamoonError('DIAL_TIMEOUT', `mux ping unanswered after ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pings.set(id, { startedAt: process.hrtime.bigint(), resolve, reject, timer });
      this.#send(encodeFrame({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: id }));
    });
  }

  /** Tells the peer we accept no new streams; existing streams continue. */
  goAway(code: number = GoAwayCode.Normal): void {
    if (this.#closed || this.#localGoAway) return;
    this.#localGoAway = true;
    this.#send(encodeFrame({ type: FrameType.GoAway, flags: 0, streamId: 0, length: code }));
  }

  /** Closes the connection; every open stream fails with `error` (or a CLOSED error). */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    const streamError = error ?? new SeamoonError('CLOSED', 'mux session closed');
    for (const stream of [...this.#streams.values()]) stream.sessionClosed(streamError);
    this.#streams.clear();
    for (const ping of this.#pings.values()) {
      clearTimeout(ping.timer);
      ping.reject(streamError);
    }
    this.#pings.clear();
    this.#conn.destroy();
    for (const listener of this.#closeListeners.splice(0)) listener(error);
  }

  #send(frame: Buffer): boolean {
    if (this.#closed || this.#conn.destroyed) return false;
    if (!this.#conn.write(frame)) this.#congested = true;
    return !this.#congested;
  }

  #sendData(header: Buffer, payload: Buffer): boolean {
    if (this.#closed || this.#conn.destroyed) return false;
    if (!this.#conn.writeData(header, payload)) this.#congested = true;
    return !this.#congested;
  }

  #onDrain(): void {
    this.#congested = false;
    for (const stream of this.#streams.values()) {
      stream.flushWrite();
      if (!this.#congested) continue;
      // The stream that used up the allowance goes last next time, so a busy stream early in
      // the table cannot take every drain while the others wait.
      this.#streams.delete(stream.id);
      this.#streams.set(stream.id, stream);
      break;
    }
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#protocolError(error instanceof Error ? error.message : String(error));
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      this.#handle(frame);
    }
  }

  #handle(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Ping:
        this.#handlePing(frame);
        return;
      case FrameType.GoAway:
        this.#remoteGoAway = true;
        if (frame.length !== GoAwayCode.Normal) this.#log?.warn({ code: frame.length }, 'mux peer went away');
        return;
      default:
        this.#handleStreamFrame(frame);
    }
  }

  #handlePing(frame: Frame): void {
    if (frame.flags & Flag.SYN) {
      this.#send(encodeFrame({ type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: frame.length }));
      return;
    }
    const pending = this.#pings.get(frame.length);
    if (!pending) return;
    this.#pings.delete(frame.length);
    clearTimeout(pending.timer);
    const rtt = Number(process.hrtime.bigint() - pending.startedAt) / 1e6;
    this.#lastRttMs = rtt;
    pending.resolve(rtt);
  }

  #handleStreamFrame(frame: Frame): void {
    const id = frame.streamId;
    if (id === 0) {
      this.#protocolError(`frame type ${frame.type} on stream 0`);
      return;
    }
    let stream = this.#streams.get(id);
    let opened = false;
    if (frame.flags & Flag.SYN) {
      if (stream) {
        this.#protocolError(`duplicate SYN for stream ${id}`);
        return;
      }
      const peerParity = this.role === 'client' ? 0 : 1;
      if (id % 2 !== peerParity) {
        this.#protocolError(`peer opened stream ${id} with our parity`);
        return;
      }
      if (this.#localGoAway || this.#streams.size >= this.#maxStreams) {
        this.#send(encodeFrame({ type: FrameType.WindowUpdate, flags: Flag.RST, streamId: id }));
        return;
      }
      stream = new YamuxStream(id, this.#host, { outbound: false, maxRecvWindow: this.#maxStreamWindow });
      this.#streams.set(id, stream);
      opened = true;
    }
    // Frames for streams we already forgot (closed or reset) are dropped, as the spec allows.
    if (!stream) return;
    if (frame.type === FrameType.Data) stream.receiveData(frame.payload ?? Buffer.alloc(0));
    else stream.receiveWindowUpdate(frame.length);
    if (opened) {
      stream.announce();
      for (const listener of this.#streamListeners) listener(stream);
    }
    if (frame.flags & Flag.FIN) stream.receiveFin();
    if (frame.flags & Flag.RST) stream.receiveReset();
  }

  #protocolError(message: string): void {
    if (this.#closed) return;
    this.#log?.warn({ reason: message }, 'mux protocol error');
    this.#send(
      encodeFrame({ type: FrameType.GoAway, flags: 0, streamId: 0, length: GoAwayCode.ProtocolError }),
    );
    this.close(new SeamoonError('BAD_REQUEST', `mux protocol error: ${message}`));
  }
}
