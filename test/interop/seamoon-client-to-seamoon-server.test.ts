import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { formatShareLink, type ShareLink, type TransportSettings } from '../../src/client/share-links.js';
import {
  makeSelfSignedCert,
  type Origin,
  startHttpOrigin,
  startUdpEcho,
  type UdpEcho,
} from '../helpers/origin.js';
import {
  type RunningProcess,
  startLocalServer,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';
import { fetchPatternThroughSocks, udpEchoThroughSocks } from '../helpers/v2ray.js';

/**
 * Both ends ours: `seamoon connect --tunnel vless://…|vmess://…|ss://…` → `seamoon server`.
 * Covers WebSocket early data (`?ed=2048`: the opening rides in Sec-WebSocket-Protocol, which
 * our server decodes and echoes) next to the plain in-band opening.
 */
const UUID = '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d';
const SS_PASSWORD = 'self-interop-pw';
const BODY = 16 * 1024 * 1024;

const cases: { name: string; link: (port: number) => ShareLink; udp: boolean }[] = [];
for (const path of ['', '?ed=2048']) {
  const ws = (base: string): TransportSettings => ({ network: 'ws', path: `${base}${path}`, tls: false });
  const address = '127.0.0.1';
  cases.push(
    {
      name: `vless:// ${path || 'in-band opening'}`,
      link: (port) => ({ protocol: 'vless', uuid: UUID, address, port, transport: ws('/vless') }),
      udp: true,
    },
    {
      name: `vmess:// auto ${path || 'in-band opening'}`,
      link: (port) => ({
        protocol: 'vmess',
        uuid: UUID,
        security: 'auto',
        alterId: 0,
        address,
        port,
        transport: ws('/vmess'),
      }),
      udp: true,
    },
    {
      name: `ss:// aes-256-gcm ${path || 'in-band opening'}`,
      link: (port) => ({
        protocol: 'ss',
        method: 'aes-256-gcm',
        password: SS_PASSWORD,
        address,
        port,
        transport: ws('/v-shadowsocks'),
      }),
      udp: false,
    },
  );
}

describe('seamoon client → seamoon server over share links', () => {
  let origin: Origin;
  let echo: UdpEcho;
  let server: RunningProcess;
  let serverPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    echo = await startUdpEcho();
    server = startLocalServer(['--allow-private', '--uid', UUID, '--ss-pass', SS_PASSWORD]);
    serverPort = await waitForListening(server);
  });

  after(async () => {
    await server?.stop();
    await origin?.close();
    await echo?.close();
  });

  for (const c of cases) {
    test(`${c.name}: 16 MiB intact${c.udp ? ', UDP echo' : ''}`, async () => {
      const client = startSeamoon([
        'connect',
        '--tunnel',
        formatShareLink(c.link(serverPort)),
        '--listen',
        'socks5://127.0.0.1:0',
      ]);
      try {
        const socksPort = await waitForListening(client);
        const fetched = await fetchPatternThroughSocks(socksPort, origin.port, BODY);
        assert.equal(fetched.exitCode, 0, fetched.stderr);
        assert.ok(fetched.intact, 'sha256 of the body matches');
        if (c.udp) assert.equal(await udpEchoThroughSocks(socksPort, echo.port, 'x'), 'echo:x');
      } finally {
        await client.stop();
      }
    });
  }

  test('vless:// with security=tls and sni to a server serving TLS itself (--ca trusts its certificate)', async () => {
    const tls = makeSelfSignedCert('localhost');
    const tlsServer = startLocalServer([
      '--allow-private',
      '--uid',
      UUID,
      '--tls-cert',
      tls.certPath,
      '--tls-key',
      tls.keyPath,
    ]);
    let client: RunningProcess | undefined;
    try {
      const tlsPort = await waitForListening(tlsServer);
      const link = formatShareLink({
        protocol: 'vless',
        uuid: UUID,
        address: '127.0.0.1',
        port: tlsPort,
        transport: { network: 'ws', path: '/vless', tls: true, sni: 'localhost' },
      });
      assert.match(link, /security=tls/);
      client = startSeamoon([
        'connect',
        '--tunnel',
        link,
        '--ca',
        tls.certPath,
        '--listen',
        'socks5://127.0.0.1:0',
      ]);
      const socksPort = await waitForListening(client);
      const fetched = await fetchPatternThroughSocks(socksPort, origin.port, 1024 * 1024);
      assert.equal(fetched.exitCode, 0, fetched.stderr);
      assert.ok(fetched.intact);
    } finally {
      await client?.stop();
      await tlsServer.stop();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
