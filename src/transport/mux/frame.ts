import { SeamoonError } from '../../core/errors.js';

/**
 * yamux framing, as specified by hashicorp (github.com/hashicorp/yamux, spec.md).
 *
 * Every frame starts with a 12-byte big-endian header:
 *
 *   | version (8) | type (8) | flags (16) | stream id (32) | length (32) |
 *
 * - Data (0): `length` payload bytes follow the header.
 * - Window Update (1): `length` is the number of bytes added to the sender's window.
 * - Ping (2): stream id 0, `length` is an opaque value echoed back with ACK.
 * - Go Away (3): stream id 0, `length` is the reason (0 normal, 1 protocol error, 2 internal error).
 *
 * Flags: SYN opens a stream (or is a ping request), ACK acknowledges it (or is a ping
 * reply), FIN half-closes the sender's side, RST resets the stream.
 */
export const YAMUX_VERSION = 0;
export const HEADER_SIZE = 12;
/** The window every stream starts with (both directions), per spec. */
export const INITIAL_STREAM_WINDOW = 256 * 1024;

export const FrameType = {
  Data: 0,
  WindowUpdate: 1,
  Ping: 2,
  GoAway: 3,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

export const Flag = {
  SYN: 0x1,
  ACK: 0x2,
  FIN: 0x4,
  RST: 0x8,
} as const;

export const GoAwayCode = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
} as const;

export interface FrameHeader {
  type: FrameTypeValue;
  flags: number;
  streamId: number;
  length: number;
}

export interface Frame extends FrameHeader {
  /** Present (possibly empty) for Data frames only. */
  payload?: Buffer;
}

export function encodeHeader(header: FrameHeader): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE);
  out[0] = YAMUX_VERSION;
  out[1] = header.type;
  out.writeUInt16BE(header.flags, 2);
  out.writeUInt32BE(header.streamId >>> 0, 4);
  out.writeUInt32BE(header.length >>> 0, 8);
  return out;
}

/** One buffer holding header + payload, so a message-based transport sends it as one message. */
export function encodeFrame(
  header: Omit<FrameHeader, 'length'> & { length?: number },
  payload?: Buffer,
): Buffer {
  const length = payload ? payload.length : (header.length ?? 0);
  const head = encodeHeader({ ...header, length });
  return payload && payload.length > 0 ? Buffer.concat([head, payload], HEADER_SIZE + payload.length) : head;
}

export function decodeHeader(buf: Buffer): FrameHeader {
  if (buf.length < HEADER_SIZE) throw new SeamoonError('BAD_REQUEST', 'yamux header too short');
  const version = buf.readUInt8(0);
  if (version !== YAMUX_VERSION)
    throw new SeamoonError('BAD_REQUEST', `unsupported yamux version ${version}`);
  const type = buf.readUInt8(1);
  if (type > FrameType.GoAway) throw new SeamoonError('BAD_REQUEST', `unknown yamux frame type ${type}`);
  return {
    type: type as FrameTypeValue,
    flags: buf.readUInt16BE(2),
    streamId: buf.readUInt32BE(4),
    length: buf.readUInt32BE(8),
  };
}

/**
 * Turns an arbitrary chunking of the byte stream back into frames. Data payloads larger
 * than `maxDataLength` are a protocol error (a peer must respect our receive window, so a
 * bigger frame can only be an attack or a bug), which bounds the memory one frame can take.
 */
export class FrameDecoder {
  readonly #maxDataLength: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: FrameHeader | undefined;

  constructor(maxDataLength: number) {
    this.#maxDataLength = maxDataLength;
  }

  /** Feeds bytes and returns every frame completed by them. Throws SeamoonError on bad input. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.#header) {
        if (this.#buffered < HEADER_SIZE) break;
        const header = decodeHeader(this.#take(HEADER_SIZE));
        if (header.type !== FrameType.Data) {
          frames.push(header);
          continue;
        }
        if (header.length > this.#maxDataLength) {
          throw new SeamoonError(
            'BAD_REQUEST',
            `yamux data frame of ${header.length} bytes exceeds the window`,
          );
        }
        this.#header = header;
      }
      const header = this.#header;
      if (this.#buffered < header.length) break;
      this.#header = undefined;
      frames.push({ ...header, payload: this.#take(header.length) });
    }
    return frames;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0];
    if (first && first.length >= n) {
      this.#buffered -= n;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const head = this.#chunks[0]!;
      const need = n - offset;
      if (head.length <= need) {
        head.copy(out, offset);
        offset += head.length;
        this.#chunks.shift();
      } else {
        head.copy(out, offset, 0, need);
        this.#chunks[0] = head.subarray(need);
        offset += need;
      }
    }
    this.#buffered -= n;
    return out;
  }
}
