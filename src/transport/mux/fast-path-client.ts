import { Duplex } from 'node:stream';
import { formatTarget, type Target } from '../../core/address.js';
import { codeForSocksReply, SeamoonError, toSeamoonError } from '../../core/errors.js';
import { encodeFastPathRequest, FAST_PATH_STATUS_OK, FastPathCommand, FastPathFlag } from './fast-path.js';
import type { YamuxStream } from './stream.js';

/**
 * The app's view of one fast-path stream: writes go straight to the mux stream (the header
 * was sent first, together with the app's first bytes), and the server's status byte is
 * taken off the front of what comes back. A non-zero status fails the stream with the
 * matching SeamoonError, so the local handler closes the app's connection properly even
 * though it already told the app "connected".
 */
export class FastPathClientStream extends Duplex {
  /** Settles when the server's status byte arrives (or the stream dies before it). */
  readonly established: Promise<void>;
  readonly #inner: YamuxStream;
  readonly #target: Target;
  #statusSeen = false;
  #settle: ((error?: SeamoonError) => void) | undefined;

  constructor(inner: YamuxStream, target: Target) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    this.#target = target;
    this.established = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => {
        this.#settle = undefined;
        if (error) reject(error);
        else resolve();
      };
    });
    // Nobody has to wait for the status (optimistic mode); an unobserved failure is not a crash.
    this.established.catch(() => {});

    inner.on('data', (chunk: Buffer) => this.#onData(chunk));
    inner.once('end', () => {
      if (!this.#statusSeen) {
        this.#fail(
          new SeamoonError('CLOSED', `tunnel closed the stream to ${formatTarget(target)} without answering`),
        );
        return;
      }
      this.push(null);
    });
    inner.on('error', (error: Error) => this.#fail(toSeamoonError(error)));
    inner.once('close', () => {
      if (!inner.readableEnded) this.#fail(new SeamoonError('CLOSED', 'tunnel stream closed'));
    });
  }

  /** Opens the stream on `inner`: writes the header and the app's first bytes in one frame. */
  static open(
    inner: YamuxStream,
    target: Target,
    options: { firstBytes?: Buffer; onion?: boolean },
  ): FastPathClientStream {
    const header = encodeFastPathRequest({
      command: FastPathCommand.TCP,
      target,
      flags: options.onion ? FastPathFlag.ONION : 0,
    });
    const stream = new FastPathClientStream(inner, target);
    const first = options.firstBytes;
    inner.write(first && first.length > 0 ? Buffer.concat([header, first]) : header);
    return stream;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#inner.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end(() => callback());
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#settle?.(
      error ? toSeamoonError(error) : new SeamoonError('CLOSED', 'stream closed before the tunnel answered'),
    );
    this.#inner.destroy();
    callback(error);
  }

  #onData(chunk: Buffer): void {
    let data = chunk;
    if (!this.#statusSeen) {
      this.#statusSeen = true;
      const status = data[0];
      if (status !== FAST_PATH_STATUS_OK) {
        const code = codeForSocksReply(status);
        this.#fail(new SeamoonError(code, `tunnel could not reach ${formatTarget(this.#target)} (${code})`));
        return;
      }
      this.#settle?.();
      data = data.subarray(1);
      if (data.length === 0) return;
    }
    if (!this.push(data)) this.#inner.pause();
  }

  #fail(error: SeamoonError): void {
    this.#settle?.(error);
    if (this.destroyed) return;
    // An 'error' nobody listens to would crash the process; then closing is all we can do.
    if (this.listenerCount('error') > 0) this.destroy(error);
    else this.destroy();
  }
}
