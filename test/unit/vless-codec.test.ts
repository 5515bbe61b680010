import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { ByteQueue } from '../../src/protocol/v2ray-shared/byte-queue.js';
import {
  encodeLengthPrefixed,
  LengthPrefixedDecoder,
} from '../../src/protocol/v2ray-shared/packet-framing.js';
import { StreamReader } from '../../src/protocol/v2ray-shared/stream-reader.js';
import { uuidToBytes } from '../../src/protocol/v2ray-shared/uuid.js';
import {
  encodeVlessRequest,
  readVlessRequest,
  VlessCommand,
  VlessResponseDecoder,
} from '../../src/protocol/vless/codec.js';
import { applyV2rayFlags, parseV2rayServerConfig } from '../../src/server/v2ray-routes.js';

const user = uuidToBytes('b831381d-6324-4d53-ad4f-8cda48b30811');
const other = uuidToBytes('00000000-0000-4000-8000-000000000001');

function readerOver(bytes: Buffer): StreamReader {
  const stream = new PassThrough();
  stream.end(bytes);
  return new StreamReader(stream);
}

describe('VLESS request', () => {
  test('wire layout: ver 0 | uuid | addons 0 | cmd | port | type | addr (spec byte order)', () => {
    const bytes = encodeVlessRequest(user, VlessCommand.tcp, { host: '1.2.3.4', port: 0x1f90 });
    assert.deepEqual(
      bytes,
      Buffer.concat([Buffer.from([0]), user, Buffer.from([0, 1, 0x1f, 0x90, 1, 1, 2, 3, 4])]),
    );
  });

  test('round trip for each address type; data after the header stays unread', async () => {
    for (const target of [
      { host: '10.0.0.1', port: 80 },
      { host: '::1', port: 8443 },
      { host: 'example.org', port: 443 },
    ]) {
      const reader = readerOver(
        Buffer.concat([encodeVlessRequest(user, VlessCommand.udp, target), Buffer.from('rest')]),
      );
      const request = await readVlessRequest(reader, [other, user]);
      assert.deepEqual(request, { userIndex: 1, command: VlessCommand.udp, target });
      assert.equal(reader.release().toString(), 'rest');
    }
  });

  test('unknown user and wrong version are AUTH_FAILED; mux is unsupported', async () => {
    const request = encodeVlessRequest(user, VlessCommand.tcp, { host: 'a.b', port: 1 });
    await assert.rejects(readVlessRequest(readerOver(request), [other]), { code: 'AUTH_FAILED' });
    const wrongVersion = Buffer.from(request);
    wrongVersion[0] = 1;
    await assert.rejects(readVlessRequest(readerOver(wrongVersion), [user]), { code: 'AUTH_FAILED' });
    const mux = Buffer.concat([Buffer.from([0]), user, Buffer.from([0, 3])]);
    await assert.rejects(readVlessRequest(readerOver(mux), [user]), { code: 'UNSUPPORTED_COMMAND' });
  });

  test('a truncated header is CLOSED, not a hang', async () => {
    const request = encodeVlessRequest(user, VlessCommand.tcp, { host: 'example.org', port: 1 });
    await assert.rejects(readVlessRequest(readerOver(request.subarray(0, 20)), [user]), { code: 'CLOSED' });
  });
});

describe('VLESS response and UDP framing', () => {
  test('the response header (with addons) is stripped even when split', () => {
    const decoder = new VlessResponseDecoder();
    assert.deepEqual(decoder.decode(Buffer.from([0])), []);
    assert.deepEqual(decoder.decode(Buffer.from([2, 9])), []);
    assert.equal(Buffer.concat(decoder.decode(Buffer.from([9, 0x41, 0x42]))).toString(), 'AB');
    assert.equal(Buffer.concat(decoder.decode(Buffer.from('C'))).toString(), 'C');
  });

  test('length-prefixed datagrams survive arbitrary splits', () => {
    const datagrams = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(3000, 7)];
    const wire = Buffer.concat(datagrams.map(encodeLengthPrefixed));
    const decoder = new LengthPrefixedDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 5) out.push(...decoder.decode(wire.subarray(i, i + 5)));
    assert.deepEqual(out, datagrams);
  });
});

describe('byte queue (frame decoders)', () => {
  test('takes within one buffer, across buffers, and refuses more than queued', () => {
    const queue = new ByteQueue();
    queue.push(Buffer.from('abc'));
    queue.push(Buffer.alloc(0));
    queue.push(Buffer.from('defg'));
    assert.equal(queue.take(2).toString(), 'ab');
    assert.equal(queue.take(3).toString(), 'cde');
    assert.equal(queue.length, 2);
    assert.throws(() => queue.take(3), RangeError);
    assert.equal(queue.takeAll().toString(), 'fg');
    assert.equal(queue.length, 0);
  });
});

describe('server configuration from SM_UID / SM_SS_PASS / SM_SS_CRYPT and flags', () => {
  test('comma-separated UUIDs, default cipher, flags override the environment', () => {
    const env: NodeJS.ProcessEnv = {
      SM_UID: ' b831381d-6324-4d53-ad4f-8cda48b30811 ,00000000-0000-4000-8000-000000000001',
    };
    const config = parseV2rayServerConfig(env);
    assert.equal(config.uuids.length, 2);
    assert.equal(config.ss, undefined);
    applyV2rayFlags({ uid: ['00000000-0000-4000-8000-000000000002'], ssPass: 'pw' }, env);
    const after = parseV2rayServerConfig(env);
    assert.equal(after.uuids.length, 1);
    assert.equal(after.ss?.cipher.name, 'aes-256-gcm');
    assert.throws(() => applyV2rayFlags({ uid: ['not-a-uuid'] }, {}), /must be UUIDs/);
    assert.throws(
      () => applyV2rayFlags({ ssPass: 'x', ssCrypt: 'rc4-md5' }, {}),
      /unsupported Shadowsocks cipher/,
    );
  });
});
