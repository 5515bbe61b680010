import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, credentials } from '@grpc/grpc-js';
import type { ShareLink } from '../../src/client/share-links.js';
import { clientSessions } from '../../src/client/tunnel/v2ray.js';
import { CodecDuplex } from '../../src/protocol/v2ray-shared/codec-duplex.js';
import { ClientCallStream } from '../../src/transport/grpc/call-stream.js';
import { decodeTunnelChunk, encodeTunnelChunk } from '../../src/transport/grpc/messages.js';
import { type Origin, patternBytes, sha256, startHttpOrigin } from '../helpers/origin.js';
import { type RunningProcess, startLocalServer, waitForListening } from '../helpers/processes.js';

/**
 * The same routes over the gRPC transport (`/tunnel.Tunnel/V2rayVless|V2rayVmess|V2raySsr`):
 * our client codecs on a raw gRPC stream, 4 MiB through `seamoon server -t grpc`.
 */
const UUID = '7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9';
const SS_PASSWORD = 'grpc-ss-pw';
const BODY = 4 * 1024 * 1024;

const transport = { network: 'ws' as const, path: '/', tls: false };
const links: [string, ShareLink][] = [
  ['V2rayVless', { protocol: 'vless', uuid: UUID, address: '127.0.0.1', port: 1, transport }],
  [
    'V2rayVmess',
    {
      protocol: 'vmess',
      uuid: UUID,
      security: 'chacha20-poly1305',
      alterId: 0,
      address: '127.0.0.1',
      port: 1,
      transport,
    },
  ],
  [
    'V2raySsr',
    {
      protocol: 'ss',
      method: 'aes-128-gcm',
      password: SS_PASSWORD,
      address: '127.0.0.1',
      port: 1,
      transport,
    },
  ],
];

/** Reads an HTTP/1.0 response to its end and returns the body. */
function readBody(stream: CodecDuplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('end', () => {
      const all = Buffer.concat(chunks);
      resolve(all.subarray(all.indexOf('\r\n\r\n') + 4));
    });
  });
}

describe('v2ray-family routes over gRPC', () => {
  let origin: Origin;
  let server: RunningProcess;
  let client: Client;

  before(async () => {
    origin = await startHttpOrigin();
    server = startLocalServer([
      '-t',
      'grpc',
      '--allow-private',
      '--uid',
      UUID,
      '--ss-pass',
      SS_PASSWORD,
      '--ss-crypt',
      'aes-128-gcm',
    ]);
    const port = await waitForListening(server);
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await server?.stop();
    await origin?.close();
  });

  for (const [method, link] of links) {
    test(`${method}: 4 MiB intact, no token needed`, async () => {
      const call = client.makeBidiStreamRequest(
        `/tunnel.Tunnel/${method}`,
        encodeTunnelChunk,
        decodeTunnelChunk,
      );
      const inner = new ClientCallStream(call, (err) => err);
      const request = Buffer.from(`GET /bytes?n=${BODY}&seed=5 HTTP/1.0\r\nHost: origin\r\n\r\n`);
      const session = clientSessions(link)({ host: '127.0.0.1', port: origin.port }, false, request);
      inner.write(session.opening);
      const stream = new CodecDuplex(inner, session.encoder, session.decoder);
      const body = await readBody(stream);
      stream.destroy();
      assert.equal(body.length, BODY);
      assert.equal(sha256(body), sha256(patternBytes(BODY, 5)));
    });
  }
});
