import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Origin, startHttpOrigin, startUdpEcho, type UdpEcho } from '../helpers/origin.js';
import { type RunningProcess, startLocalServer, waitForListening } from '../helpers/processes.js';
import {
  fetchPatternThroughSocks,
  startV2rayClient,
  udpEchoThroughSocks,
  type V2rayProtocol,
  v2rayAvailable,
  type WsExtras,
} from '../helpers/v2ray.js';

/**
 * Real v2ray 4.34 as the client (SOCKS inbound → VLESS/VMess/Shadowsocks over WebSocket) and
 * our `seamoon server` as the server: 16 MiB sha256-checked through curl, UDP echo through
 * v2ray's SOCKS UDP for VLESS and VMess.
 */
const skip = v2rayAvailable() ? false : 'v2ray is not installed (apt-get install v2ray)';
const UUID = '6f1c2a4e-52d3-4c55-9d7b-0a8e3b1f2c9d';
const SECOND_UUID = 'a3d1f3b0-1e5c-4f0e-8a7d-2b9c6d4e5f60';
const SS_PASSWORD = 'interop-ss-secret';
const BODY = 16 * 1024 * 1024;

interface Case {
  name: string;
  protocol: V2rayProtocol;
  path: string;
  udp: boolean;
  ws?: WsExtras;
}

const cases: Case[] = [
  { name: 'VLESS/ws', protocol: { protocol: 'vless', uuid: UUID }, path: '/vless', udp: true },
  {
    name: 'VLESS/ws with early data in Sec-WebSocket-Protocol (second user)',
    protocol: { protocol: 'vless', uuid: SECOND_UUID },
    path: '/vless',
    udp: false,
    ws: { maxEarlyData: 2048, earlyDataHeaderName: 'Sec-WebSocket-Protocol' },
  },
  ...(['aes-128-gcm', 'chacha20-poly1305', 'none', 'zero', 'auto'] as const).map((security) => ({
    name: `VMess/ws ${security}`,
    protocol: { protocol: 'vmess' as const, uuid: UUID, security },
    path: '/vmess',
    udp: security !== 'zero',
  })),
  {
    name: 'Shadowsocks/ws aes-256-gcm',
    protocol: { protocol: 'shadowsocks', method: 'aes-256-gcm', password: SS_PASSWORD },
    path: '/v-shadowsocks',
    udp: false,
  },
];

describe('v2ray client → seamoon server', { skip }, () => {
  let origin: Origin;
  let echo: UdpEcho;
  let server: RunningProcess;
  let serverPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    echo = await startUdpEcho();
    // Users from SM_UID (comma-separated); the password from --ss-pass.
    server = startLocalServer(['--allow-private', '--ss-pass', SS_PASSWORD], {
      SM_UID: `${UUID}, ${SECOND_UUID}`,
    });
    serverPort = await waitForListening(server);
  });

  after(async () => {
    await server?.stop();
    await origin?.close();
    await echo?.close();
  });

  for (const c of cases) {
    test(`${c.name}: 16 MiB intact${c.udp ? ', UDP echo' : ''}`, async () => {
      const client = await startV2rayClient(c.protocol, serverPort, c.path, c.ws);
      try {
        const fetched = await fetchPatternThroughSocks(client.socksPort, origin.port, BODY);
        assert.equal(fetched.exitCode, 0, fetched.stderr);
        assert.equal(fetched.length, BODY);
        assert.ok(fetched.intact, 'sha256 of the body matches');
        if (c.udp) {
          assert.equal(
            await udpEchoThroughSocks(client.socksPort, echo.port, `ping ${c.name}`),
            `echo:ping ${c.name}`,
          );
        }
      } finally {
        await client.stop();
      }
    });
  }

  test('secrets (UUIDs, password) never reach the log', () => {
    const log = server.output();
    assert.ok(!log.includes(UUID) && !log.includes(SECOND_UUID) && !log.includes(SS_PASSWORD));
  });
});

describe('v2ray client → seamoon server, other Shadowsocks ciphers', { skip }, () => {
  let origin: Origin;
  before(async () => {
    origin = await startHttpOrigin();
  });
  after(async () => {
    await origin?.close();
  });

  for (const [serverCipher, clientCipher] of [
    ['aes-128-gcm', 'aes-128-gcm'],
    ['chacha20-poly1305', 'chacha20-ietf-poly1305'],
  ]) {
    test(`server ${serverCipher} ← client ${clientCipher}: 16 MiB intact`, async () => {
      const server = startLocalServer([
        '--allow-private',
        '--ss-pass',
        SS_PASSWORD,
        '--ss-crypt',
        serverCipher,
      ]);
      try {
        const port = await waitForListening(server);
        const client = await startV2rayClient(
          { protocol: 'shadowsocks', method: clientCipher, password: SS_PASSWORD },
          port,
          '/v-shadowsocks',
        );
        try {
          const fetched = await fetchPatternThroughSocks(client.socksPort, origin.port, BODY);
          assert.equal(fetched.exitCode, 0, fetched.stderr);
          assert.ok(fetched.intact);
        } finally {
          await client.stop();
        }
      } finally {
        await server.stop();
      }
    });
  }
});
