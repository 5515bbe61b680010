import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTunnel } from '../../src/client/tunnel/registry.js';
import type { Tunnel } from '../../src/client/tunnel/types.js';
import { SeamoonError } from '../../src/core/errors.js';
import { curlThrough } from '../helpers/curl.js';
import { makeSelfSignedCert, type Origin, startHttpOrigin, type TlsMaterial } from '../helpers/origin.js';
import {
  type RunningProcess,
  startLocalServer,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';

const TOKEN = 'connect-tls-token-9012';

async function fetchThrough(tunnel: Tunnel, port: number): Promise<string> {
  const stream = await tunnel.dial({ host: '127.0.0.1', port }, { timeoutMs: 5000 });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('end', () => {
      stream.destroy();
      resolve(Buffer.concat(chunks).toString());
    });
    stream.write('GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  });
}

describe('wss:// tunnels: TLS verified by default, --ca and --insecure', () => {
  let tls: TlsMaterial;
  let origin: Origin;
  let server: RunningProcess;
  let client: RunningProcess;
  let serverPort = 0;
  const tunnels: Tunnel[] = [];

  before(async () => {
    tls = makeSelfSignedCert();
    origin = await startHttpOrigin();
    server = startLocalServer([
      '--token',
      TOKEN,
      '--allow-private',
      '--tls-cert',
      tls.certPath,
      '--tls-key',
      tls.keyPath,
    ]);
    serverPort = await waitForListening(server);
  });

  after(async () => {
    await Promise.all(tunnels.map((tunnel) => tunnel.close()));
    await client?.stop();
    await server?.stop();
    await origin?.close();
  });

  async function open(url: string, options: Parameters<typeof createTunnel>[1]): Promise<Tunnel> {
    const tunnel = await createTunnel(url, options);
    tunnels.push(tunnel);
    return tunnel;
  }

  test('an unknown self-signed certificate is refused by default', async () => {
    const tunnel = await open(`wss://127.0.0.1:${serverPort}`, { token: TOKEN, compat: true });
    await assert.rejects(
      fetchThrough(tunnel, origin.port),
      (err: unknown) =>
        err instanceof SeamoonError && err.code === 'TUNNEL_UNAVAILABLE' && /certificate/i.test(err.message),
    );
    const health = await tunnel.health({ timeoutMs: 3000 });
    assert.equal(health.ok, false);
    assert.match(health.error ?? '', /certificate/i);
  });

  test('with the CA trusted, the token from the URL query, dial and health work', async () => {
    const tunnel = await open(`wss://127.0.0.1:${serverPort}/?token=${TOKEN}`, {
      ca: [tls.cert],
      compat: true,
    });
    assert.equal(tunnel.displayUrl, `wss://127.0.0.1:${serverPort}`);
    assert.match(await fetchThrough(tunnel, origin.port), /hello from origin$/);
    const health = await tunnel.health({ timeoutMs: 3000 });
    assert.equal(health.ok, true, health.error);
    assert.match(health.version ?? '', /^\d+\.\d+\.\d+/);
    assert.ok(health.latencyMs >= 0);
  });

  test('--insecure skips verification (default fast path)', async () => {
    const tunnel = await open(`wss://127.0.0.1:${serverPort}`, { token: TOKEN, insecure: true });
    assert.match(await fetchThrough(tunnel, origin.port), /hello from origin$/);
  });

  test('seamoon connect --ca <file> carries curl through wss', async () => {
    client = startSeamoon([
      'connect',
      '--tunnel',
      `wss://127.0.0.1:${serverPort}`,
      '--token',
      TOKEN,
      '--ca',
      tls.certPath,
      '--listen',
      'socks5://127.0.0.1:0',
    ]);
    const port = await waitForListening(client, 'seamoon connect ');
    const body = await curlThrough(`socks5h://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`);
    assert.equal(body.toString(), 'hello from origin');
    assert.ok(!client.output().includes(TOKEN), 'the token is never printed');
  });
});
