import { Duplex } from 'node:stream';
import type { ClientDuplexStream, ServerDuplexStream, ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { SeamoonError } from '../../core/errors.js';

type ChunkCall = ClientDuplexStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>;

/** Well under grpc's default 4 MiB receive limit, which a foreign peer may keep. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * One gRPC bidi-stream call (client or server side) as a byte Duplex: every write becomes one
 * message, every message is read as bytes.
 *
 * - Backpressure: a full readable side pauses the call (grpc-js then stops reading and HTTP/2
 *   flow control reaches the peer); a full call buffer holds our write callback until `drain`.
 * - Half-close: ending our writable half-closes a client call; a server can only finish the
 *   whole call (trailers), so there the readable side ends too — nothing more can arrive.
 * - destroy() cancels a client call and finishes a server call with CANCELLED.
 */
abstract class CallStream extends Duplex {
  protected finished = false;
  readonly #call: ChunkCall;
  #waitingForDrain: ((error?: Error | null) => void) | undefined;

  constructor(call: ChunkCall) {
    // Room for a few 64 KiB messages, so the call is not paused and resumed for every one.
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.#call = call;
    call.on('data', (chunk: Buffer) => {
      if (chunk.length > 0 && !this.push(chunk)) call.pause();
    });
    call.once('end', () => this.push(null));
  }

  override _read(): void {
    this.#call.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  #send(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.finished) {
      callback(new SeamoonError('CLOSED', 'the gRPC stream has already finished'));
      return;
    }
    // Peers cap messages (4 MiB by default); large writes travel as several messages.
    let rest = chunk;
    while (rest.length > MAX_MESSAGE_BYTES) {
      this.#call.write(rest.subarray(0, MAX_MESSAGE_BYTES));
      rest = rest.subarray(MAX_MESSAGE_BYTES);
    }
    if (this.#call.write(rest)) {
      callback();
      return;
    }
    this.#waitingForDrain = callback;
    this.#call.once('drain', () => {
      this.#waitingForDrain = undefined;
      callback();
    });
  }

  /** The call is over: a write still waiting for `drain` would wait forever. */
  protected releasePendingWrite(): void {
    const callback = this.#waitingForDrain;
    this.#waitingForDrain = undefined;
    callback?.(new SeamoonError('CLOSED', 'the gRPC stream finished before the write was sent'));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    // Coalesce small writes into one message: fewer frames, same bytes.
    this.#send(Buffer.concat(chunks.map((entry) => entry.chunk)), callback);
  }
}

/** Client side of a call; errors become SeamoonErrors through `mapError`. */
export class ClientCallStream extends CallStream {
  readonly #call: ClientDuplexStream<Buffer, Buffer>;

  constructor(call: ClientDuplexStream<Buffer, Buffer>, mapError: (err: ServiceError) => Error) {
    super(call);
    this.#call = call;
    call.on('error', (err: ServiceError) => {
      this.finished = true;
      this.destroy(mapError(err));
    });
    call.once('status', () => {
      this.finished = true;
      this.releasePendingWrite();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.finished) this.#call.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.#call.cancel();
    }
    callback(error);
  }
}

/** Server side of a call; a client that cancels or vanishes destroys the stream. */
export class ServerCallStream extends CallStream {
  readonly #call: ServerDuplexStream<Buffer, Buffer>;

  constructor(call: ServerDuplexStream<Buffer, Buffer>) {
    super(call);
    this.#call = call;
    call.once('cancelled', () => {
      this.finished = true;
      this.releasePendingWrite();
      this.destroy(new SeamoonError('CLOSED', 'the client cancelled the gRPC stream'));
    });
    call.on('error', (err: Error) => {
      // grpc-js turns an 'error' on a server call into the call's final status; ours are
      // emitted by _destroy, anything else (e.g. an undecodable message) ends the stream.
      if (!this.finished) {
        this.finished = true;
        this.destroy(new SeamoonError('BAD_REQUEST', err.message));
      }
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.#call.end();
    }
    // Trailers end the call for both directions.
    this.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.#call.emit('error', {
        code: status.CANCELLED,
        details: 'stream closed',
      });
    }
    callback(error);
  }
}
