import { Duplex } from 'node:stream';
import { SeamoonError } from '../../core/errors.js';
import { encodeFrame, encodeHeader, Flag, FrameType, INITIAL_STREAM_WINDOW } from './frame.js';

/** Largest Data payload we put in one frame: small enough that streams interleave fairly. */
export const MAX_FRAME_DATA = 64 * 1024;
/**
 * Payloads up to this size are copied behind their header and go out as one write (one
 * WebSocket message); bigger ones are written after the header as they are, since copying
 * them costs more than the extra message.
 */
const JOIN_PAYLOAD_UP_TO = 8 * 1024;

/** What a stream needs from its session (kept narrow so the two stay testable apart). */
export interface StreamHost {
  /** Writes one encoded frame; false means the connection is congested (wait for onDrain). */
  send(frame: Buffer): boolean;
  /**
   * Writes a Data frame as its header followed by the payload, without joining them: the
   * payload is usually a socket read buffer, and a joined copy would double the bytes held
   * in flight (and the garbage left behind) for every frame.
   */
  sendData(header: Buffer, payload: Buffer): boolean;
  congested(): boolean;
  /** The stream is fully closed or reset: drop it from the session's table. */
  forget(stream: YamuxStream): void;
  /** The peer broke the protocol on this stream: the whole session must go. */
  protocolError(message: string): void;
}

interface PendingWrite {
  chunk: Buffer;
  offset: number;
  callback: (error?: Error | null) => void;
}

/**
 * One yamux stream as a Node Duplex. Flow control follows the spec: we may send at most
 * `sendWindow` bytes until the peer grants more with a Window Update, and we grant the
 * peer more once the app has consumed (read) what it sent, so a slow reader only ever
 * stalls its own stream. `end()` sends FIN (half-close); `destroy()` sends RST unless
 * both directions already closed cleanly.
 */
export class YamuxStream extends Duplex {
  readonly id: number;
  readonly #host: StreamHost;
  readonly #maxRecvWindow: number;
  #sendWindow = INITIAL_STREAM_WINDOW;
  #recvWindow = INITIAL_STREAM_WINDOW;
  #inbox: Buffer[] = [];
  #inboxBytes = 0;
  #wantRead = false;
  #remoteFin = false;
  #pushedEnd = false;
  #localFin = false;
  #resetByPeer = false;
  #sessionGone = false;
  /** We opened the stream and have not yet sent a frame carrying SYN. */
  #synPending: boolean;
  /** The peer opened the stream and we have not yet sent a frame carrying ACK. */
  #ackPending: boolean;
  #pendingWrite: PendingWrite | undefined;

  constructor(id: number, host: StreamHost, options: { outbound: boolean; maxRecvWindow: number }) {
    super({ allowHalfOpen: true });
    this.id = id;
    this.#host = host;
    this.#maxRecvWindow = Math.max(options.maxRecvWindow, INITIAL_STREAM_WINDOW);
    this.#synPending = options.outbound;
    this.#ackPending = !options.outbound;
  }

  /** Bytes we may still send before the peer grants more. */
  get sendWindow(): number {
    return this.#sendWindow;
  }

  /** Bytes the peer may still send before we grant more. */
  get receiveWindow(): number {
    return this.#recvWindow;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = { chunk, offset: 0, callback };
    this.flushWrite();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#localFin = true;
    this.#host.send(
      encodeFrame({ type: FrameType.WindowUpdate, flags: this.#openFlags() | Flag.FIN, streamId: this.id }),
    );
    callback();
    this.#forgetIfDone();
  }

  override _read(): void {
    this.#wantRead = true;
    this.#drainInbox();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const clean = this.#localFin && this.#remoteFin;
    if (!clean && !this.#resetByPeer && !this.#sessionGone) {
      this.#host.send(
        encodeFrame({ type: FrameType.WindowUpdate, flags: this.#openFlags() | Flag.RST, streamId: this.id }),
      );
    }
    this.#pendingWrite = undefined;
    this.#inbox = [];
    this.#inboxBytes = 0;
    this.#host.forget(this);
    callback(error);
  }

  /**
   * Sends the SYN/ACK if no frame carried it yet, together with any window we owe the
   * peer (a window above the spec's 256 KiB is granted right after opening).
   */
  announce(): void {
    if (this.destroyed) return;
    const flags = this.#openFlags();
    const delta = this.#maxRecvWindow - this.#inboxBytes - this.#recvWindow;
    if (flags === 0 && delta < this.#maxRecvWindow / 2) return;
    this.#recvWindow += delta;
    this.#host.send(encodeFrame({ type: FrameType.WindowUpdate, flags, streamId: this.id, length: delta }));
  }

  /** Sends as much of the pending write as the window and the connection allow. */
  flushWrite(): void {
    const pending = this.#pendingWrite;
    if (!pending || this.destroyed) return;
    while (pending.offset < pending.chunk.length) {
      if (this.#sendWindow === 0 || this.#host.congested()) return;
      const size = Math.min(this.#sendWindow, pending.chunk.length - pending.offset, MAX_FRAME_DATA);
      const payload = pending.chunk.subarray(pending.offset, pending.offset + size);
      pending.offset += size;
      this.#sendWindow -= size;
      const header = { type: FrameType.Data, flags: this.#openFlags(), streamId: this.id };
      if (size <= JOIN_PAYLOAD_UP_TO) this.#host.send(encodeFrame(header, payload));
      else this.#host.sendData(encodeHeader({ ...header, length: size }), payload);
    }
    this.#pendingWrite = undefined;
    pending.callback();
  }

  // ---- called by the session for frames addressed to this stream ----

  receiveData(payload: Buffer): void {
    if (payload.length > this.#recvWindow) {
      this.#host.protocolError(`stream ${this.id} received ${payload.length} bytes beyond its window`);
      return;
    }
    this.#recvWindow -= payload.length;
    if (this.#remoteFin || this.destroyed || payload.length === 0) return;
    this.#inbox.push(payload);
    this.#inboxBytes += payload.length;
    this.#drainInbox();
  }

  receiveWindowUpdate(delta: number): void {
    this.#sendWindow += delta;
    if (this.#sendWindow > 0xffffffff) {
      this.#host.protocolError(`stream ${this.id} window overflow`);
      return;
    }
    this.flushWrite();
  }

  receiveFin(): void {
    this.#remoteFin = true;
    this.#drainInbox();
    this.#forgetIfDone();
  }

  receiveReset(): void {
    this.#resetByPeer = true;
    this.#fail(new SeamoonError('CLOSED', `stream ${this.id} reset by peer`));
  }

  sessionClosed(error: Error): void {
    this.#sessionGone = true;
    this.#fail(error);
  }

  /**
   * An 'error' event nobody listens to would crash the process, and a stream the app has
   * not picked up yet (or already let go of) has nobody to tell: it just closes.
   */
  #fail(error: Error): void {
    if (this.listenerCount('error') > 0) this.destroy(error);
    else this.destroy();
  }

  #openFlags(): number {
    if (this.#synPending) {
      this.#synPending = false;
      return Flag.SYN;
    }
    if (this.#ackPending) {
      this.#ackPending = false;
      return Flag.ACK;
    }
    return 0;
  }

  #drainInbox(): void {
    while (this.#wantRead && this.#inbox.length > 0) {
      const chunk = this.#inbox.shift()!;
      this.#inboxBytes -= chunk.length;
      this.#wantRead = this.push(chunk);
    }
    if (this.#inbox.length === 0 && this.#remoteFin && !this.#pushedEnd && !this.destroyed) {
      this.#pushedEnd = true;
      this.push(null);
    }
    if (!this.#remoteFin && !this.destroyed) this.announce();
  }

  #forgetIfDone(): void {
    if (this.#localFin && this.#remoteFin) this.#host.forget(this);
  }
}
