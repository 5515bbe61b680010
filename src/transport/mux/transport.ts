import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { sendCorked } from '../ws-stream.js';

/**
 * Bytes queued on the connection before streams stop sending and wait for `drain`: about one
 * full frame. The kernel's socket buffer does the real buffering; a deeper queue here only
 * hands the kernel big batches of data that has gone cold in the CPU cache (measured: 5× the
 * kernel copy time at 256 KiB) and holds more memory per session.
 */
export const MAX_BUFFERED_BYTES = 64 * 1024;

export interface MuxTransportEvents {
  /** Bytes from the peer, in any chunking. */
  data(chunk: Buffer): void;
  /** The transport took the queued bytes: streams may send again. */
  drain(): void;
  /** The connection is gone (or going); `reason` says why. Called at most once. */
  closed(reason: string): void;
}

/** What a yamux session needs from the connection under it. */
export interface MuxTransport {
  /** Queues bytes; false means the connection is congested and `drain` will follow. */
  write(frame: Buffer): boolean;
  /**
   * Queues a Data frame given as its header and payload, without joining them: the payload is
   * usually a socket read buffer, and a joined copy costs an allocation and a copy per frame
   * (and doubles the bytes held for a moment). Both still reach the kernel in one write.
   */
  writeData(header: Buffer, payload: Buffer): boolean;
  readonly destroyed: boolean;
  destroy(): void;
  /** Connects the session's handlers; called once, before any write. */
  start(events: MuxTransportEvents): void;
}

class DuplexTransport implements MuxTransport {
  readonly #conn: Duplex;

  constructor(conn: Duplex) {
    this.#conn = conn;
  }

  get destroyed(): boolean {
    return this.#conn.destroyed;
  }

  write(frame: Buffer): boolean {
    return this.#mayContinue(this.#conn.write(frame));
  }

  writeData(header: Buffer, payload: Buffer): boolean {
    const conn = this.#conn;
    conn.cork();
    conn.write(header);
    const below = conn.write(payload);
    conn.uncork();
    return this.#mayContinue(below);
  }

  /**
   * The connection's own limit (16 KiB for a WebSocket stream) would stall streams after every
   * frame, so we go on up to MAX_BUFFERED_BYTES; but only a write that returned false is followed
   * by 'drain', so only then may we report congestion.
   */
  #mayContinue(belowHighWaterMark: boolean): boolean {
    return belowHighWaterMark || this.#conn.writableLength < MAX_BUFFERED_BYTES;
  }

  destroy(): void {
    this.#conn.destroy();
  }

  start(events: MuxTransportEvents): void {
    const conn = this.#conn;
    conn.on('data', (chunk: Buffer) => events.data(chunk));
    conn.on('drain', () => events.drain());
    conn.once('end', () => events.closed('mux connection ended'));
    conn.once('close', () => events.closed('mux connection closed'));
    conn.on('error', (error: Error) => events.closed(`mux connection failed: ${error.message}`));
  }
}

/**
 * A yamux session straight on a WebSocket: every frame is one binary message (a large Data
 * frame: its header, then its payload, in the same write to the kernel) and every message
 * goes to the decoder as it arrives. Compared with a byte-stream adapter this saves a
 * Readable and a Writable layer (and their bookkeeping) per frame in each direction. Reading is
 * never paused: the yamux windows already bound what each stream may have in flight, and a peer
 * that sends beyond them breaks the protocol and loses the session.
 */
class WebSocketTransport implements MuxTransport {
  readonly #ws: WebSocket;
  /** Bytes handed to `send` whose callback has not run yet (i.e. not yet taken by the OS). */
  #inFlight = 0;
  #congested = false;
  #destroyed = false;
  #events: MuxTransportEvents | undefined;

  constructor(ws: WebSocket) {
    this.#ws = ws;
  }

  get destroyed(): boolean {
    return this.#destroyed || this.#ws.readyState !== this.#ws.OPEN;
  }

  write(frame: Buffer): boolean {
    if (this.destroyed) return false;
    const size = frame.length;
    this.#inFlight += size;
    this.#ws.send(frame, { binary: true }, (error) => this.#onSent(size, error));
    if (this.#inFlight >= MAX_BUFFERED_BYTES) this.#congested = true;
    return !this.#congested;
  }

  writeData(header: Buffer, payload: Buffer): boolean {
    if (this.destroyed) return false;
    const size = header.length + payload.length;
    this.#inFlight += size;
    sendCorked(this.#ws, [header, payload], (error) => this.#onSent(size, error ?? undefined));
    if (this.#inFlight >= MAX_BUFFERED_BYTES) this.#congested = true;
    return !this.#congested;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#ws.terminate();
  }

  start(events: MuxTransportEvents): void {
    this.#events = events;
    const ws = this.#ws;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => events.data(toBuffer(data)));
    ws.once('close', () => events.closed('mux connection closed'));
    ws.on('error', (error: Error) => events.closed(`mux connection failed: ${error.message}`));
  }

  /** ws calls back once the socket took the message (or failed to). */
  #onSent(size: number, error?: Error): void {
    this.#inFlight -= size;
    if (error || !this.#congested || this.#inFlight >= MAX_BUFFERED_BYTES / 2) return;
    this.#congested = false;
    this.#events?.drain();
  }
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A byte stream (any Duplex) or an open WebSocket as the connection under a yamux session. */
export function muxTransport(conn: Duplex | WebSocket): MuxTransport {
  return conn instanceof WebSocket ? new WebSocketTransport(conn) : new DuplexTransport(conn);
}
