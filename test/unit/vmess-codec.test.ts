import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { ReplayFilter } from '../../src/protocol/v2ray-shared/replay-filter.js';
import { StreamReader } from '../../src/protocol/v2ray-shared/stream-reader.js';
import {
  type BodyParameters,
  VmessBodyDecoder,
  VmessBodyEncoder,
  VmessOption,
  VmessSecurity,
} from '../../src/protocol/vmess/body.js';
import {
  encodeInstruction,
  readRequestHeader,
  responseKeys,
  sealRequestHeader,
  sealResponseHeader,
  VmessCommand,
  type VmessInstruction,
  VmessResponseDecoder,
  vmessUser,
} from '../../src/protocol/vmess/header.js';

const alice = vmessUser(randomBytes(16));
const bob = vmessUser(randomBytes(16));

function instruction(overrides: Partial<VmessInstruction> = {}): VmessInstruction {
  return {
    iv: randomBytes(16),
    key: randomBytes(16),
    responseAuth: 0x5a,
    options: VmessOption.chunkStream | VmessOption.chunkMasking | VmessOption.globalPadding,
    security: VmessSecurity.aes128gcm,
    command: VmessCommand.tcp,
    target: { host: 'example.com', port: 443 },
    ...overrides,
  };
}

async function open(bytes: Buffer, replay = new ReplayFilter({ ttlMs: 240_000 }), now?: number) {
  const stream = new PassThrough();
  stream.end(bytes);
  return readRequestHeader(new StreamReader(stream), [alice, bob], replay, now);
}

describe('VMess AEAD request header', () => {
  test('opens for the right user and returns the instruction', async () => {
    const sent = instruction({ target: { host: '2001:db8::5', port: 53 }, command: VmessCommand.udp });
    const opened = await open(sealRequestHeader(bob, encodeInstruction(sent)));
    assert.equal(opened.userIndex, 1);
    assert.deepEqual(opened.instruction, sent);
  });

  test('an unknown user, a replay, a stale timestamp and a flipped bit are AUTH_FAILED', async () => {
    const stranger = vmessUser(randomBytes(16));
    await assert.rejects(open(sealRequestHeader(stranger, encodeInstruction(instruction()))), {
      code: 'AUTH_FAILED',
    });

    const replay = new ReplayFilter({ ttlMs: 240_000 });
    const header = sealRequestHeader(alice, encodeInstruction(instruction()));
    await open(header, replay);
    await assert.rejects(open(header, replay), /replayed/);

    const now = Math.floor(Date.now() / 1000);
    const old = sealRequestHeader(alice, encodeInstruction(instruction()), now - 121);
    await assert.rejects(open(old, undefined, now), /time window/);
    const recent = sealRequestHeader(alice, encodeInstruction(instruction()), now - 119);
    assert.equal((await open(recent, undefined, now)).userIndex, 0);

    const tampered = sealRequestHeader(alice, encodeInstruction(instruction()));
    tampered[tampered.length - 3] ^= 0x01;
    await assert.rejects(open(tampered), { code: 'AUTH_FAILED' });
  });
});

describe('VMess body', () => {
  const variants: [string, Omit<BodyParameters, 'key' | 'iv'>][] = [
    ['aes-128-gcm S|M|P', { security: VmessSecurity.aes128gcm, options: 0x0d, packet: false }],
    ['chacha20-poly1305 S|M|P', { security: VmessSecurity.chacha20poly1305, options: 0x0d, packet: false }],
    ['aes-128-gcm S|M|P|A', { security: VmessSecurity.aes128gcm, options: 0x1d, packet: false }],
    ['aes-128-gcm S only', { security: VmessSecurity.aes128gcm, options: 0x01, packet: false }],
    ['none S|M', { security: VmessSecurity.none, options: 0x05, packet: false }],
    ['none without chunks', { security: VmessSecurity.none, options: 0, packet: false }],
  ];
  for (const [name, params] of variants) {
    test(`${name}: stream round trip over 1-byte to 40 KiB writes and arbitrary splits`, () => {
      const p = { ...params, key: randomBytes(16), iv: randomBytes(16) };
      const encoder = new VmessBodyEncoder(p);
      const decoder = new VmessBodyDecoder(p);
      const writes = [randomBytes(1), randomBytes(40_000), randomBytes(300)];
      const wire = Buffer.concat([...writes.map((w) => encoder.encode(w)), encoder.end() ?? Buffer.alloc(0)]);
      const out: Buffer[] = [];
      for (let i = 0; i < wire.length; i += 777) out.push(...decoder.decode(wire.subarray(i, i + 777)));
      assert.deepEqual(Buffer.concat(out), Buffer.concat(writes));
      if (p.options & VmessOption.chunkStream) assert.equal(decoder.ended, true);
    });
  }

  test('packet mode keeps datagram boundaries', () => {
    const p = {
      security: VmessSecurity.aes128gcm,
      options: 0x0d,
      packet: true,
      key: randomBytes(16),
      iv: randomBytes(16),
    };
    const encoder = new VmessBodyEncoder(p);
    const decoder = new VmessBodyDecoder(p);
    const datagrams = [Buffer.from('one'), Buffer.from('two two'), randomBytes(1200)];
    const out = decoder.decode(Buffer.concat(datagrams.map((d) => encoder.encode(d))));
    assert.deepEqual(out, datagrams);
  });

  test('a tampered chunk fails authentication', () => {
    const p = {
      security: VmessSecurity.aes128gcm,
      options: 0x0d,
      packet: false,
      key: randomBytes(16),
      iv: randomBytes(16),
    };
    const wire = new VmessBodyEncoder(p).encode(Buffer.from('payload that matters'));
    wire[5] ^= 0xff;
    assert.throws(() => new VmessBodyDecoder(p).decode(wire), { code: 'AUTH_FAILED' });
  });
});

describe('VMess response', () => {
  test('the client opens the server response header and body; a wrong response byte is refused', () => {
    const sent = instruction();
    const keys = responseKeys(sent);
    const body = { security: sent.security, options: sent.options, ...keys, packet: false };
    const wire = Buffer.concat([
      sealResponseHeader(sent.responseAuth, keys),
      new VmessBodyEncoder(body).encode(Buffer.from('hi')),
    ]);
    const decoder = new VmessResponseDecoder(sent.responseAuth, keys, new VmessBodyDecoder(body));
    const out = [...decoder.decode(wire.subarray(0, 10)), ...decoder.decode(wire.subarray(10))];
    assert.equal(Buffer.concat(out).toString(), 'hi');
    const wrong = new VmessResponseDecoder(sent.responseAuth ^ 1, keys, new VmessBodyDecoder(body));
    assert.throws(() => wrong.decode(wire), { code: 'AUTH_FAILED' });
  });
});
