import type { Duplex } from 'node:stream';

export interface ByteCounters {
  /** Bytes written into the stream (app → tunnel). */
  up(bytes: number): void;
  /** Bytes the stream produced (tunnel → app). */
  down(bytes: number): void;
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Counts the bytes through a stream without putting another stream in front of it: the
 * stream's own `push` (what it reads) and `_write`/`_writev` (what it is given) are
 * wrapped on this one instance. A listener on 'data' would switch the stream into flowing
 * mode before its consumer is attached, and a pass-through layer would cost a hop per chunk.
 */
export function meterStream(stream: Duplex, counters: ByteCounters): void {
  const push = stream.push.bind(stream);
  stream.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk !== null && chunk !== undefined) {
      counters.down(
        typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : (chunk as Buffer).length,
      );
    }
    return push(chunk, encoding);
  };
  const write = stream._write.bind(stream);
  stream._write = (chunk: Buffer, encoding: BufferEncoding, callback: WriteCallback): void => {
    counters.up(chunk.length);
    write(chunk, encoding, callback);
  };
  if (stream._writev) {
    const writev = stream._writev.bind(stream);
    stream._writev = (
      chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
      callback: WriteCallback,
    ) => {
      for (const { chunk } of chunks) counters.up(chunk.length);
      writev(chunks, callback);
    };
  }
}
