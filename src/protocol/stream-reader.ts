import type { Duplex } from 'node:stream';
import { SeamoonError } from '../core/errors.js';

/** The most `readAvailable` takes in one go. */
const MAX_AVAILABLE = 64 * 1024;

/**
 * A reader for protocol headers over any Duplex. It pulls in paused mode ('readable' +
 * read(n)) and only as many bytes as the pending read needs, so:
 *  - nothing after a header is consumed (what little `readUntil` over-reads is put back with
 *    `unshift()` by `release()`), and the next consumer (a relay, Node's HTTP parser) sees
 *    every byte that followed;
 *  - a client flooding during a handshake meets backpressure, not a growing buffer;
 *  - an app that sends its request and data and then half-closes does not lose the data:
 *    'end' is only triggered when a read actually needs more bytes.
 */
export class StreamReader {
  readonly #stream: Duplex;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #failure: SeamoonError | undefined;
  #released = false;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** While a read is pending: how many bytes it may pull, and whether it is satisfied. */
  #demand = 0;
  #satisfied: (() => boolean) | undefined;

  constructor(stream: Duplex, options: { timeoutMs?: number } = {}) {
    this.#stream = stream;
    stream.on('readable', this.#pull);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onClose);
    stream.on('error', this.#onError);
    if (options.timeoutMs && options.timeoutMs > 0) this.setTimeout(options.timeoutMs);
    if (stream.readableEnded) this.#ended = true;
    if (stream.destroyed) this.#failure = new SeamoonError('CLOSED', 'stream already closed');
  }

  /** (Re)arms a deadline; when it passes, pending and later reads reject with HANDSHAKE_TIMEOUT. */
  setTimeout(ms: number): void {
    this.clearTimeout();
    this.#timer = setTimeout(() => {
      this.#fail(new SeamoonError('HANDSHAKE_TIMEOUT', `no complete header within ${ms} ms`));
    }, ms);
    this.#timer.unref();
  }

  clearTimeout(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Bytes read from the stream and not yet consumed. */
  get buffered(): number {
    return this.#buffer.length;
  }

  async readExactly(n: number): Promise<Buffer> {
    await this.#waitFor(n, () => this.#buffer.length >= n, 'expected more bytes');
    const out = this.#buffer.subarray(0, n);
    this.#consume(n);
    return out;
  }

  /** Resolves with the first `n` bytes without consuming them. */
  async peek(n: number): Promise<Buffer> {
    await this.#waitFor(n, () => this.#buffer.length >= n, 'expected more bytes');
    return this.#buffer.subarray(0, n);
  }

  /**
   * Reads up to and including `delimiter`. More than `maxBytes` without it → BAD_REQUEST
   * (caps header sizes against memory abuse).
   */
  async readUntil(delimiter: Buffer | string, maxBytes: number): Promise<Buffer> {
    const needle = typeof delimiter === 'string' ? Buffer.from(delimiter) : delimiter;
    const limit = maxBytes + needle.length;
    let index = -1;
    // Satisfied when the delimiter is in, or when enough is buffered to know it is too late.
    await this.#waitFor(
      limit,
      () => {
        index = this.#buffer.indexOf(needle);
        return index >= 0 || this.#buffer.length >= limit;
      },
      'stream ended before the delimiter',
    );
    const end = index + needle.length;
    if (index < 0 || end > maxBytes)
      throw new SeamoonError('BAD_REQUEST', `header larger than ${maxBytes} bytes`);
    const out = this.#buffer.subarray(0, end);
    this.#consume(end);
    return out;
  }

  /**
   * Whatever is buffered now, or the first bytes that arrive within `waitMs` (empty if none).
   * Used to pick up an app's first bytes without waiting on server-first protocols.
   */
  async readAvailable(waitMs: number): Promise<Buffer> {
    if (this.#buffer.length === 0) {
      this.#demand = MAX_AVAILABLE;
      this.#satisfied = () => this.#buffer.length > 0;
      this.#pull();
      if (this.#buffer.length === 0 && !this.#ended && !this.#failure) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.#wake = undefined;
            resolve();
          }, waitMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      this.#satisfied = undefined;
    }
    const out = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return out;
  }

  /**
   * Stops reading and puts the unconsumed bytes back into the stream, so the next consumer
   * reads them first. Returns how many bytes were handed back.
   */
  release(): number {
    if (this.#released) return 0;
    this.#released = true;
    this.clearTimeout();
    this.#satisfied = undefined;
    this.#stream.off('readable', this.#pull);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onClose);
    this.#stream.off('error', this.#onError);
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    if (rest.length > 0 && !this.#stream.destroyed) this.#stream.unshift(rest);
    return rest.length;
  }

  #consume(n: number): void {
    this.#buffer = this.#buffer.subarray(n);
  }

  /** Moves bytes from the stream into the buffer, no more than the pending read needs. */
  #pull = (): void => {
    if (this.#released) return;
    while (this.#satisfied && !this.#satisfied() && this.#buffer.length < this.#demand) {
      const available = this.#stream.readableLength;
      if (available === 0) {
        // Arms the next 'readable', and lets an already-received EOF surface as 'end'.
        this.#stream.read(0);
        break;
      }
      // read(n) with n ≤ readableLength returns exactly n bytes and never triggers 'end'.
      const chunk = this.#stream.read(Math.min(this.#demand - this.#buffer.length, available)) as
        | Buffer
        | string
        | null;
      if (chunk === null) break;
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.#buffer = this.#buffer.length === 0 ? bytes : Buffer.concat([this.#buffer, bytes]);
    }
    this.#notify();
  };

  #onEnd = (): void => {
    this.#ended = true;
    this.#notify();
  };

  #onClose = (): void => {
    this.#fail(new SeamoonError('CLOSED', 'stream closed during the handshake'));
  };

  #onError = (err: Error): void => {
    this.#fail(
      new SeamoonError('CLOSED', `stream failed during the handshake: ${err.message}`, { cause: err }),
    );
  };

  #fail(err: SeamoonError): void {
    if (!this.#failure) this.#failure = err;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #waitFor(demand: number, ready: () => boolean, endMessage: string): Promise<void> {
    this.#demand = demand;
    this.#satisfied = ready;
    try {
      this.#pull();
      for (;;) {
        if (ready()) return;
        if (this.#failure) throw this.#failure;
        if (this.#ended) throw new SeamoonError('CLOSED', endMessage);
        if (this.#released) throw new SeamoonError('CLOSED', 'reader released');
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      this.#satisfied = undefined;
    }
  }
}
