import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { evpBytesToKey, SsStreamEncoder, ssCipherSpec } from '../../src/protocol/shadowsocks/aead.js';
import { encodeSocksAddress } from '../../src/protocol/v2ray-shared/address.js';
import { DRAIN_MIN_MS } from '../../src/protocol/v2ray-shared/drain.js';
import { uuidToBytes } from '../../src/protocol/v2ray-shared/uuid.js';
import { encodeVlessRequest, VlessCommand } from '../../src/protocol/vless/codec.js';
import {
  VmessBodyDecoder,
  VmessBodyEncoder,
  VmessOption,
  VmessSecurity,
} from '../../src/protocol/vmess/body.js';
import {
  encodeInstruction,
  responseKeys,
  sealRequestHeader,
  VmessCommand,
  VmessResponseDecoder,
  vmessUser,
} from '../../src/protocol/vmess/header.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import { type RunningProcess, startLocalServer, waitForListening } from '../helpers/processes.js';
import { fetchPatternThroughSocks, startV2rayClient, v2rayAvailable } from '../helpers/v2ray.js';

/**
 * Wrong users, wrong passwords, tampered bytes and a replayed VMess header are refused the way
 * v2ray refuses them: nothing is sent back and the connection is only closed after a while
 * (no oracle), and the server keeps serving honest clients.
 */
const skip = v2rayAvailable() ? false : 'v2ray is not installed (apt-get install v2ray)';
const UUID = '9b7c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4';
const WRONG_UUID = '11111111-2222-4333-8444-555555555555';
const SS_PASSWORD = 'negative-ss-pw';

interface ProbeResult {
  received: Buffer;
  closedAfterMs: number;
}

/** Opens a WebSocket to `path`, sends `bytes`, and collects everything until the server closes. */
function probe(
  port: number,
  path: string,
  bytes: Buffer,
  onData?: (chunk: Buffer) => void,
): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const chunks: Buffer[] = [];
    let sentAt = 0;
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`${path}: server did not close within 15 s`));
    }, 15_000);
    socket.on('open', () => {
      sentAt = performance.now();
      socket.send(bytes);
    });
    socket.on('message', (data: Buffer) => {
      chunks.push(data);
      onData?.(data);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedAfterMs: performance.now() - sentAt });
    });
  });
}

function assertSilentRefusal(result: ProbeResult, what: string): void {
  assert.equal(result.received.length, 0, `${what}: nothing comes back`);
  // Closing right away would tell a prober "wrong key"; v2ray lingers, so do we.
  assert.ok(result.closedAfterMs >= DRAIN_MIN_MS - 50, `${what}: closed after ${result.closedAfterMs} ms`);
}

function httpGet(originPort: number, path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`);
}

/** A complete VMess (aes-128-gcm) request carrying an HTTP GET, plus how to read the answer. */
function vmessRequest(originPort: number) {
  const iv = randomBytes(16);
  const key = randomBytes(16);
  const options = VmessOption.chunkStream | VmessOption.chunkMasking | VmessOption.globalPadding;
  const security = VmessSecurity.aes128gcm;
  const target = { host: '127.0.0.1', port: originPort };
  const instruction = encodeInstruction({
    iv,
    key,
    responseAuth: 7,
    options,
    security,
    command: VmessCommand.tcp,
    target,
  });
  const body = new VmessBodyEncoder({ security, options, key, iv, packet: false });
  const bytes = Buffer.concat([
    sealRequestHeader(vmessUser(uuidToBytes(UUID)), instruction),
    body.encode(httpGet(originPort, '/hello')),
  ]);
  const reply = responseKeys({ key, iv });
  const decoder = () =>
    new VmessResponseDecoder(7, reply, new VmessBodyDecoder({ security, options, ...reply, packet: false }));
  return { bytes, decoder };
}

describe('v2ray-family routes refuse bad clients without an oracle', { skip }, () => {
  let origin: Origin;
  let server: RunningProcess;
  let port: number;

  before(async () => {
    origin = await startHttpOrigin();
    server = startLocalServer([
      '--allow-private',
      '--uid',
      UUID,
      '--ss-pass',
      SS_PASSWORD,
      '--ss-crypt',
      'aes-128-gcm',
    ]);
    port = await waitForListening(server);
  });

  after(async () => {
    await server?.stop();
    await origin?.close();
  });

  test('an honest raw VMess request gets the origin answer (the probe itself works)', async () => {
    const request = vmessRequest(origin.port);
    const decoder = request.decoder();
    const plain: Buffer[] = [];
    await probe(port, '/vmess', request.bytes, (chunk) => plain.push(...decoder.decode(chunk)));
    assert.match(Buffer.concat(plain).toString(), /hello from origin/);
  });

  test('replayed VMess header: the second use is drained, not answered', async () => {
    const request = vmessRequest(origin.port);
    const first = await probe(port, '/vmess', request.bytes);
    assert.ok(first.received.length > 0, 'the first use is answered');
    assertSilentRefusal(await probe(port, '/vmess', request.bytes), 'replay');
  });

  test('VMess from an unknown user and a tampered VMess header are drained', async () => {
    const stranger = sealRequestHeader(
      vmessUser(uuidToBytes(WRONG_UUID)),
      encodeInstruction({
        iv: randomBytes(16),
        key: randomBytes(16),
        responseAuth: 1,
        options: 1,
        security: VmessSecurity.aes128gcm,
        command: VmessCommand.tcp,
        target: { host: '127.0.0.1', port: origin.port },
      }),
    );
    const tampered = vmessRequest(origin.port).bytes;
    tampered[16 + 18 + 8 + 3] ^= 0x40;
    const [a, b] = await Promise.all([probe(port, '/vmess', stranger), probe(port, '/vmess', tampered)]);
    assertSilentRefusal(a, 'unknown VMess user');
    assertSilentRefusal(b, 'tampered VMess header');
  });

  test('VLESS with an unknown UUID and random bytes are drained', async () => {
    const wrong = Buffer.concat([
      encodeVlessRequest(uuidToBytes(WRONG_UUID), VlessCommand.tcp, { host: '127.0.0.1', port: origin.port }),
      httpGet(origin.port, '/hello'),
    ]);
    const [a, b] = await Promise.all([probe(port, '/vless', wrong), probe(port, '/vless', randomBytes(200))]);
    assertSilentRefusal(a, 'unknown VLESS user');
    assertSilentRefusal(b, 'random bytes on /vless');
  });

  test('Shadowsocks with the wrong password, tampered ciphertext and a replayed salt are drained', async () => {
    const spec = ssCipherSpec('aes-128-gcm');
    const opening = (password: string) =>
      new SsStreamEncoder(spec, evpBytesToKey(password, spec.keySize)).encode(
        Buffer.concat([
          encodeSocksAddress({ host: '127.0.0.1', port: origin.port }),
          httpGet(origin.port, '/hello'),
        ]),
      );
    const tampered = opening(SS_PASSWORD);
    tampered[spec.saltSize + 18 + 4] ^= 0x01;
    const honest = opening(SS_PASSWORD);
    const [wrong, flipped, first] = await Promise.all([
      probe(port, '/v-shadowsocks', opening('not-the-password')),
      probe(port, '/v-shadowsocks', tampered),
      probe(port, '/v-shadowsocks', honest),
    ]);
    assertSilentRefusal(wrong, 'wrong Shadowsocks password');
    assertSilentRefusal(flipped, 'tampered Shadowsocks chunk');
    assert.ok(first.received.length > 0, 'the honest request is answered');
    assertSilentRefusal(await probe(port, '/v-shadowsocks', honest), 'replayed Shadowsocks salt');
  });

  test('real v2ray clients with a wrong UUID or password fail; an honest one still gets 1 MiB', async () => {
    const wrongVless = await startV2rayClient({ protocol: 'vless', uuid: WRONG_UUID }, port, '/vless');
    const wrongSs = await startV2rayClient(
      { protocol: 'shadowsocks', method: 'aes-128-gcm', password: 'wrong' },
      port,
      '/v-shadowsocks',
    );
    const honest = await startV2rayClient(
      { protocol: 'vmess', uuid: UUID, security: 'aes-128-gcm' },
      port,
      '/vmess',
    );
    try {
      const [badVless, badSs, good] = await Promise.all([
        fetchPatternThroughSocks(wrongVless.socksPort, origin.port, 1024),
        fetchPatternThroughSocks(wrongSs.socksPort, origin.port, 1024),
        fetchPatternThroughSocks(honest.socksPort, origin.port, 1024 * 1024),
      ]);
      assert.notEqual(badVless.exitCode, 0, 'wrong UUID gets nothing');
      assert.notEqual(badSs.exitCode, 0, 'wrong password gets nothing');
      assert.equal(good.exitCode, 0, good.stderr);
      assert.ok(good.intact);
    } finally {
      await Promise.all([wrongVless.stop(), wrongSs.stop(), honest.stop()]);
    }
  });

  test('targets still pass the egress guard: without --allow-private a loopback target gets nothing', async () => {
    const guarded = startLocalServer(['--uid', UUID, '--log-level', 'debug']);
    try {
      const guardedPort = await waitForListening(guarded);
      const request = Buffer.concat([
        encodeVlessRequest(uuidToBytes(UUID), VlessCommand.tcp, { host: '127.0.0.1', port: origin.port }),
        httpGet(origin.port, '/hello'),
      ]);
      const result = await probe(guardedPort, '/vless', request);
      assert.equal(result.received.length, 0, 'no VLESS response header, no data');
      await guarded.waitFor(/EGRESS_DENIED/, 5000);
    } finally {
      await guarded.stop();
    }
  });
});
