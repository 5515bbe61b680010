import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeamoonError } from '../../src/core/errors.js';
import {
  decodeGostChunk,
  decodePing,
  decodePong,
  decodeTunnelChunk,
  encodeGostChunk,
  encodePing,
  encodePong,
  encodeTunnelChunk,
} from '../../src/transport/grpc/messages.js';
import { classifyOpening, HTTP2_PREFACE } from '../../src/transport/grpc/sniff.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('tunnel.Chunk{bytes body = 1; int32 size = 2}', () => {
  test('encodes body then size, as protoc-generated code does', () => {
    assert.deepEqual(encodeTunnelChunk(Buffer.from('hi')), hex('0a 02 6869 10 02'));
  });

  test('uses multi-byte varints for lengths of 128 and more', () => {
    const body = Buffer.alloc(300, 7);
    const encoded = encodeTunnelChunk(body);
    assert.deepEqual(encoded.subarray(0, 3), hex('0a ac02'));
    assert.deepEqual(encoded.subarray(3 + 300), hex('10 ac02'));
    assert.deepEqual(decodeTunnelChunk(encoded), body);
  });

  test('an empty body is the empty message (proto3 omits defaults)', () => {
    assert.equal(encodeTunnelChunk(Buffer.alloc(0)).length, 0);
    assert.equal(decodeTunnelChunk(Buffer.alloc(0)).length, 0);
  });

  test('decoding ignores size, skips unknown fields and keeps the last body', () => {
    // size=99 (wrong on purpose), field 7 fixed32, field 8 fixed64, field 9 varint, two bodies.
    const message = hex('10 63  3d 01020304  41 0102030405060708  48 96 01  0a 01 41  0a 02 4243');
    assert.equal(decodeTunnelChunk(message).toString(), 'BC');
  });

  test('malformed input is a BAD_REQUEST SeamoonError, not a crash', () => {
    for (const bad of [hex('0a 05 41'), hex('0a'), hex('0b 00'), hex('00 00'), hex('10 ff ff ff')]) {
      assert.throws(
        () => decodeTunnelChunk(bad),
        (err: unknown) => err instanceof SeamoonError && err.code === 'BAD_REQUEST',
        bad.toString('hex'),
      );
    }
  });
});

describe("gost's Chunk{bytes data = 1}", () => {
  test('known answer and round trip', () => {
    assert.deepEqual(encodeGostChunk(Buffer.from('hi')), hex('0a 02 6869'));
    const data = Buffer.from([5, 1, 0]);
    assert.deepEqual(decodeGostChunk(encodeGostChunk(data)), data);
  });
});

describe('Ping / Pong', () => {
  test('Ping{version} known answer', () => {
    assert.deepEqual(encodePing({ version: '1.0' }), hex('0a 03 312e30'));
    assert.deepEqual(decodePing(hex('0a 03 312e30')), { version: '1.0' });
  });

  test('Pong fields 1-4 as strings; empty ones are omitted', () => {
    const pong = { status: 'OK', time: '2026-01-02 03:04:05', version: '0.1.0', commit: '' };
    const encoded = encodePong(pong);
    assert.deepEqual(encoded.subarray(0, 4), hex('0a 02 4f4b'));
    assert.equal(encoded.includes(0x22), false, 'field 4 (tag 0x22) left out when empty');
    assert.deepEqual(decodePong(encoded), pong);
  });
});

describe('connection sniffing', () => {
  test('recognises the HTTP/2 preface only when complete', () => {
    assert.equal(classifyOpening(HTTP2_PREFACE), 'http2');
    assert.equal(classifyOpening(HTTP2_PREFACE.subarray(0, 10)), 'need-more');
  });

  test('recognises HTTP/1.1 requests (e.g. a WebSocket upgrade)', () => {
    assert.equal(classifyOpening(Buffer.from('GET /socks5 HTTP/1.1\r\nUpgrade: websocket\r\n')), 'http1');
    assert.equal(classifyOpening(Buffer.from('GE')), 'need-more');
  });

  test('anything else is unknown (a TLS ClientHello on a cleartext port)', () => {
    assert.equal(classifyOpening(hex('16 0301 0200 01')), 'unknown');
  });
});
