import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { SeamoonError } from '../../src/core/errors.js';
import {
  CodecDuplex,
  passThroughDecoder,
  type StreamDecoder,
} from '../../src/protocol/v2ray-shared/codec-duplex.js';

/** A stand-in for the WebSocket stream: records writes and whether it was ended/destroyed. */
function fakeTransport() {
  const written: Buffer[] = [];
  let ended = false;
  const inner = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk);
      callback();
    },
    final(callback) {
      ended = true;
      callback();
    },
  });
  return { inner, written, isEnded: () => ended };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Decoder whose in-band end marker is the byte "E". */
function markerDecoder(): StreamDecoder & { ended: boolean } {
  const state = { ended: false };
  return {
    get ended() {
      return state.ended;
    },
    decode(wire: Buffer) {
      const at = wire.indexOf('E');
      if (at < 0) return [wire];
      state.ended = true;
      return [wire.subarray(0, at)];
    },
  };
}

describe('codec duplex (half-close over a transport without half-close)', () => {
  test('without an in-band end marker, ending our side ends the transport', async () => {
    const t = fakeTransport();
    const codec = new CodecDuplex(
      t.inner,
      { encode: (p) => Buffer.concat([Buffer.from('<'), p]) },
      passThroughDecoder,
    );
    codec.end(Buffer.from('x'));
    await tick();
    assert.deepEqual(Buffer.concat(t.written).toString(), '<x');
    assert.equal(t.isEnded(), true);
  });

  test('with an end marker, the transport stays open until the peer is done too', async () => {
    const t = fakeTransport();
    const codec = new CodecDuplex(
      t.inner,
      { encode: (p) => p, end: () => Buffer.from('E') },
      markerDecoder(),
    );
    const received: string[] = [];
    codec.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    codec.end(Buffer.from('req'));
    await tick();
    assert.equal(Buffer.concat(t.written).toString(), 'reqE');
    assert.equal(t.isEnded(), false, 'the peer may still be sending');
    t.inner.push(Buffer.from('respE'));
    await tick();
    assert.deepEqual(received, ['resp']);
    assert.equal(t.isEnded(), true);
  });

  test('with a grace period, a peer that never finishes is closed after it', async () => {
    const t = fakeTransport();
    const codec = new CodecDuplex(
      t.inner,
      { encode: (p) => p, end: () => Buffer.from('E') },
      markerDecoder(),
      {
        halfCloseGraceMs: 50,
      },
    );
    codec.resume();
    codec.end();
    await tick();
    assert.equal(t.isEnded(), false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(t.isEnded(), true);
  });

  test('leftover bytes are decoded first; a decoder failure destroys both sides', async () => {
    const t = fakeTransport();
    const failing: StreamDecoder = {
      decode(wire) {
        if (wire.includes('bad')) throw new SeamoonError('AUTH_FAILED', 'tag mismatch');
        return [wire];
      },
    };
    const codec = new CodecDuplex(t.inner, { encode: (p) => p }, failing, {
      leftover: Buffer.from('first '),
    });
    const received: string[] = [];
    codec.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    const failed = new Promise<Error>((resolve) => codec.once('error', resolve));
    t.inner.push(Buffer.from('second'));
    await tick();
    t.inner.push(Buffer.from('bad'));
    assert.equal(((await failed) as SeamoonError).code, 'AUTH_FAILED');
    assert.deepEqual(received, ['first ', 'second']);
    await tick();
    assert.equal(t.inner.destroyed, true);
  });

  test('stream mode merges what arrives together; datagram mode keeps every boundary', async () => {
    const splitter: StreamDecoder = { decode: (wire) => [...wire.toString()].map((ch) => Buffer.from(ch)) };
    for (const datagrams of [false, true]) {
      const t = fakeTransport();
      const codec = new CodecDuplex(t.inner, { encode: (p) => p }, splitter, { datagrams });
      const received: string[] = [];
      codec.on('data', (chunk: Buffer) => received.push(chunk.toString()));
      t.inner.push(Buffer.from('abc'));
      t.inner.push(Buffer.from('de'));
      await tick();
      assert.deepEqual(received, datagrams ? ['a', 'b', 'c', 'd', 'e'] : ['abcde']);
      codec.destroy();
    }
  });
});
