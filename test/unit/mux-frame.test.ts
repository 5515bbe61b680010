import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeHeader,
  encodeFrame,
  encodeHeader,
  Flag,
  FrameDecoder,
  FrameType,
  GoAwayCode,
} from '../../src/transport/mux/frame.js';

// Known answers written out by hand from hashicorp/yamux spec.md (big-endian header:
// version 8 | type 8 | flags 16 | stream id 32 | length 32).
describe('yamux frame header', () => {
  test('Data with SYN on stream 1 carrying 5 bytes', () => {
    const bytes = encodeFrame({ type: FrameType.Data, flags: Flag.SYN, streamId: 1 }, Buffer.from('hello'));
    assert.equal(bytes.toString('hex'), `000000010000000100000005${Buffer.from('hello').toString('hex')}`);
  });

  test('Window Update with ACK on stream 2 granting 256 KiB', () => {
    const bytes = encodeHeader({
      type: FrameType.WindowUpdate,
      flags: Flag.ACK,
      streamId: 2,
      length: 262144,
    });
    assert.equal(bytes.toString('hex'), '000100020000000200040000');
  });

  test('Ping request and Go Away (protocol error) use stream 0', () => {
    assert.equal(
      encodeHeader({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 7 }).toString('hex'),
      '000200010000000000000007',
    );
    assert.equal(
      encodeHeader({
        type: FrameType.GoAway,
        flags: 0,
        streamId: 0,
        length: GoAwayCode.ProtocolError,
      }).toString('hex'),
      '000300000000000000000001',
    );
  });

  test('FIN|RST flags and a stream id above 2^31 round-trip', () => {
    const header = {
      type: FrameType.WindowUpdate,
      flags: Flag.FIN | Flag.RST,
      streamId: 0xfffffffe,
      length: 0,
    };
    const bytes = encodeHeader(header);
    assert.equal(bytes.toString('hex'), '0001000cfffffffe00000000');
    assert.deepEqual(decodeHeader(bytes), header);
  });

  test('rejects an unknown version or frame type', () => {
    assert.throws(() => decodeHeader(Buffer.from('010000000000000100000000', 'hex')), /version 1/);
    assert.throws(() => decodeHeader(Buffer.from('000400000000000100000000', 'hex')), /frame type 4/);
  });
});

describe('yamux frame decoder', () => {
  const frames = Buffer.concat([
    encodeFrame({ type: FrameType.Data, flags: Flag.SYN, streamId: 3 }, Buffer.from('abc')),
    encodeFrame({ type: FrameType.WindowUpdate, flags: 0, streamId: 3, length: 1000 }),
    encodeFrame({ type: FrameType.Data, flags: Flag.FIN, streamId: 3 }, Buffer.alloc(0)),
    encodeFrame({ type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 99 }),
  ]);

  test('reassembles frames fed one byte at a time', () => {
    const decoder = new FrameDecoder(1024);
    const out = [];
    for (const byte of frames) out.push(...decoder.push(Buffer.from([byte])));
    assert.equal(out.length, 4);
    assert.equal(out[0].payload?.toString(), 'abc');
    assert.equal(out[0].flags, Flag.SYN);
    assert.equal(out[1].type, FrameType.WindowUpdate);
    assert.equal(out[1].length, 1000);
    assert.equal(out[1].payload, undefined);
    assert.equal(out[2].flags, Flag.FIN);
    assert.equal(out[2].payload?.length, 0);
    assert.equal(out[3].length, 99);
  });

  test('decodes all frames from one chunk', () => {
    const out = new FrameDecoder(1024).push(frames);
    assert.deepEqual(
      out.map((f) => f.type),
      [FrameType.Data, FrameType.WindowUpdate, FrameType.Data, FrameType.Ping],
    );
  });

  test('refuses a data frame larger than the window before buffering it', () => {
    const decoder = new FrameDecoder(16);
    const header = encodeHeader({ type: FrameType.Data, flags: 0, streamId: 1, length: 17 });
    assert.throws(() => decoder.push(header), /exceeds the window/);
  });
});
