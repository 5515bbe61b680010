import { Duplex } from 'node:stream';

/** Turns plaintext written by the app into wire bytes (one call per write). */
export interface StreamEncoder {
  encode(plain: Buffer): Buffer;
  /** Wire bytes that say "no more data" (VMess: an empty chunk), written before the end. */
  end?(): Buffer | undefined;
}

/** Turns wire bytes into plaintext; throws when authentication fails. */
export interface StreamDecoder {
  decode(wire: Buffer): Buffer[];
  /** True once the peer's in-band end marker was seen. */
  readonly ended?: boolean;
}

const CLOSE_GRACE_MS = 10_000;
/** Decoded bytes handed on in one piece at most. */
const MAX_COALESCED_BYTES = 256 * 1024;

export const passThroughDecoder: StreamDecoder = { decode: (wire) => [wire] };

/**
 * A plaintext Duplex over an encrypted/framed one. Backpressure is carried both ways (the
 * inner stream is paused while our readable is full; our writes wait for the inner drain),
 * and destroying either side destroys the other.
 */
export class CodecDuplex extends Duplex {
  readonly #inner: Duplex;
  readonly #encoder: StreamEncoder;
  readonly #decoder: StreamDecoder;
  #readEnded = false;
  #writeDone = false;
  #pendingOut: Buffer[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  readonly #halfCloseGraceMs: number;
  readonly #datagrams: boolean;

  constructor(
    inner: Duplex,
    encoder: StreamEncoder,
    decoder: StreamDecoder,
    options: {
      leftover?: Buffer;
      halfCloseGraceMs?: number;
      /** Every decoded piece is a datagram: hand each on as its own chunk, never merged. */
      datagrams?: boolean;
    } = {},
  ) {
    super({ allowHalfOpen: true });
    this.#datagrams = options.datagrams === true;
    const leftover = options.leftover;
    this.#halfCloseGraceMs = options.halfCloseGraceMs ?? 0;
    this.#inner = inner;
    this.#encoder = encoder;
    this.#decoder = decoder;
    if (leftover && leftover.length > 0) this.#onWire(leftover);
    inner.on('data', (chunk: Buffer) => this.#onWire(chunk));
    inner.once('end', () => this.#endReadable());
    inner.on('error', (err) => this.destroy(err));
    inner.once('close', () => {
      if (!this.#readEnded) this.destroy();
      else if (!this.writableFinished) this.destroy();
    });
    inner.resume();
  }

  #onWire(chunk: Buffer): void {
    if (this.#readEnded || this.destroyed) return;
    let plain: Buffer[];
    try {
      plain = this.#decoder.decode(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (this.#datagrams) {
      let full = false;
      for (const piece of plain) if (!this.push(piece)) full = true;
      if (full) this.#inner.pause();
      if (this.#decoder.ended) this.#endReadable();
      return;
    }
    for (const piece of plain) {
      if (piece.length === 0) continue;
      this.#pendingOut.push(piece);
      this.#pendingBytes += piece.length;
    }
    if (this.#decoder.ended) this.#endReadable();
    else if (this.#pendingBytes >= MAX_COALESCED_BYTES) this.#flush();
    else if (!this.#flushScheduled && this.#pendingBytes > 0) {
      // Peers such as v2ray 4 send 2 KiB WebSocket messages; the ones parsed from one socket
      // read are handed on as one buffer (one write downstream instead of dozens).
      this.#flushScheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pendingBytes === 0 || this.destroyed) return;
    const out =
      this.#pendingOut.length === 1
        ? this.#pendingOut[0]
        : Buffer.concat(this.#pendingOut, this.#pendingBytes);
    this.#pendingOut = [];
    this.#pendingBytes = 0;
    if (!this.push(out)) this.#inner.pause();
  }

  #endReadable(): void {
    if (this.#readEnded) return;
    this.#flush();
    this.#readEnded = true;
    this.push(null);
    if (this.#writeDone && !this.#inner.writableEnded && !this.#inner.destroyed) this.#inner.end();
  }

  override _read(): void {
    if (this.#inner.isPaused()) this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let wire: Buffer;
    try {
      wire = this.#encoder.encode(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (this.#inner.destroyed) {
      callback(new Error('tunnel stream closed'));
      return;
    }
    if (wire.length === 0) {
      callback();
      return;
    }
    if (this.#inner.write(wire)) callback();
    else this.#inner.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#writeDone = true;
    if (!this.#inner.destroyed && this.#inner.writable) {
      const tail = this.#encoder.end?.();
      if (tail && tail.length > 0) this.#inner.write(tail);
      // Without an in-band end marker the only way to say "done" is to close the transport
      // (a WebSocket close frame, which flushes what is queued). With one, the transport stays
      // open for the peer's remaining data and is closed once both directions are done.
      if (!this.#encoder.end || this.#readEnded) this.#inner.end();
      else if (this.#halfCloseGraceMs > 0) {
        // As v2ray's server does: once our side is done, the peer gets a short while to finish.
        const timer = setTimeout(() => this.#inner.end(), this.#halfCloseGraceMs);
        timer.unref();
        this.#inner.once('close', () => clearTimeout(timer));
      }
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#inner.writableEnded && !error) {
      // Let the queued bytes and the closing handshake finish, but never wait forever.
      const guard = setTimeout(() => this.#inner.destroy(), CLOSE_GRACE_MS);
      guard.unref();
      this.#inner.once('close', () => clearTimeout(guard));
    } else {
      this.#inner.destroy();
    }
    callback(error);
  }
}
