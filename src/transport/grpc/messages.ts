import {
  MessageWriter,
  readFields,
  varintLength,
  WIRE_LENGTH_DELIMITED,
  WIRE_VARINT,
  writeVarint,
} from './protobuf.js';

/**
 * The messages of SeaMoon's `tunnel.proto` and gost's `gost.proto`:
 *
 *   package tunnel;
 *   message Chunk { bytes body = 1; int32 size = 2; }
 *   message Ping  { string version = 1; }
 *   message Pong  { string status = 1; string time = 2; string version = 3; string commit = 4; }
 *
 *   // gost.proto, no package
 *   message Chunk { bytes data = 1; }
 *
 * Streams carry plain Buffers: the codecs below turn one payload into one message and back.
 */

const BODY_KEY = 1 * 8 + WIRE_LENGTH_DELIMITED;
const SIZE_KEY = 2 * 8 + WIRE_VARINT;

/** `tunnel.Chunk{body, size = body.length}` — the size field mirrors what the Go server sends. */
export function encodeTunnelChunk(body: Buffer): Buffer {
  const n = body.length;
  if (n === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(1 + varintLength(n) + n + 1 + varintLength(n));
  let at = 0;
  out[at++] = BODY_KEY;
  at = writeVarint(out, at, n);
  body.copy(out, at);
  at += n;
  out[at++] = SIZE_KEY;
  writeVarint(out, at, n);
  return out;
}

/** The body of a `tunnel.Chunk`; `size` is informational and ignored, as in the reference. */
export function decodeTunnelChunk(message: Buffer): Buffer {
  return lastBytesField(message, 1);
}

/** gost's `Chunk{data}`. */
export function encodeGostChunk(data: Buffer): Buffer {
  const n = data.length;
  if (n === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(1 + varintLength(n) + n);
  out[0] = BODY_KEY;
  data.copy(out, writeVarint(out, 1, n));
  return out;
}

export function decodeGostChunk(message: Buffer): Buffer {
  return lastBytesField(message, 1);
}

/** proto3: when a scalar field repeats, the last value wins. */
function lastBytesField(message: Buffer, wanted: number): Buffer {
  let found: Buffer = Buffer.alloc(0);
  readFields(message, {
    bytes(field, value) {
      if (field === wanted) found = value;
    },
  });
  return found;
}

export interface Ping {
  version: string;
}

export interface Pong {
  status: string;
  time: string;
  version: string;
  commit: string;
}

function stringFields(message: Buffer, count: number): string[] {
  const values = new Array<string>(count).fill('');
  readFields(message, {
    bytes(field, value) {
      if (field >= 1 && field <= count) values[field - 1] = value.toString('utf8');
    },
  });
  return values;
}

export function encodePing(ping: Ping): Buffer {
  return new MessageWriter().bytes(1, ping.version).finish();
}

export function decodePing(message: Buffer): Ping {
  const [version] = stringFields(message, 1);
  return { version };
}

export function encodePong(pong: Pong): Buffer {
  return new MessageWriter()
    .bytes(1, pong.status)
    .bytes(2, pong.time)
    .bytes(3, pong.version)
    .bytes(4, pong.commit)
    .finish();
}

export function decodePong(message: Buffer): Pong {
  const [status, time, version, commit] = stringFields(message, 4);
  return { status, time, version, commit };
}
