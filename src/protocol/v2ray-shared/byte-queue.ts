/**
 * Bytes received but not yet consumed by a frame decoder. Taking a frame that lies inside one
 * received buffer is a zero-copy slice; only frames straddling buffers are copied.
 */
export class ByteQueue {
  #chunks: Buffer[] = [];
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  /** The next `n` bytes (the caller checked `length >= n`). */
  take(n: number): Buffer {
    if (n > this.#length) throw new RangeError(`take(${n}) with ${this.#length} bytes queued`);
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0];
    if (first.length - this.#head >= n) {
      const out = first.subarray(this.#head, this.#head + n);
      this.#advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.#chunks[0];
      const count = Math.min(n - copied, chunk.length - this.#head);
      chunk.copy(out, copied, this.#head, this.#head + count);
      copied += count;
      this.#advance(count);
    }
    return out;
  }

  /** Everything queued, as one buffer. */
  takeAll(): Buffer {
    return this.take(this.#length);
  }

  #advance(n: number): void {
    this.#head += n;
    this.#length -= n;
    if (this.#head === this.#chunks[0].length) {
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}
