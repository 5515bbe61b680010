import type { Duplex } from 'node:stream';
import { SeamoonError } from '../../core/errors.js';

/**
 * Reads exact byte counts from a stream while a protocol header is parsed, then hands the
 * stream back (paused) together with whatever was read past the header.
 */
export class StreamReader {
  readonly #stream: Duplex;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#wake?.();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };
  readonly #onError = (err: Error) => {
    this.#failure = err;
    this.#wake?.();
  };

  constructor(stream: Duplex, prefix?: Buffer) {
    this.#stream = stream;
    if (prefix && prefix.length > 0) {
      this.#chunks.push(prefix);
      this.#buffered = prefix.length;
    }
    stream.on('data', this.#onData);
    stream.once('end', this.#onEnd);
    stream.once('close', this.#onEnd);
    stream.on('error', this.#onError);
  }

  /** Exactly `n` bytes, or CLOSED when the stream ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.#buffered < n) {
      if (this.#failure) throw new SeamoonError('CLOSED', this.#failure.message, { cause: this.#failure });
      if (this.#ended) throw new SeamoonError('CLOSED', 'stream ended inside a protocol header');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    return this.#take(n);
  }

  /** Stops listening (the stream is left paused) and returns the unread bytes. */
  release(): Buffer {
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onEnd);
    this.#stream.off('error', this.#onError);
    this.#stream.pause();
    const rest = this.#buffered > 0 ? this.#take(this.#buffered) : Buffer.alloc(0);
    return rest;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    let all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    all = all.subarray(n);
    this.#chunks = all.length > 0 ? [all] : [];
    this.#buffered = all.length;
    return out;
  }
}
