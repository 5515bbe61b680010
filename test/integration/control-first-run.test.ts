import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { curl } from '../helpers/curl.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import { type RunningProcess, startSeamoon, waitForListening } from '../helpers/processes.js';
import { apiClient, type TunnelView, tempDataDir } from './control-helpers.js';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('seamoon client first run (as a process)', () => {
  let origin: Origin;
  let dataDir: string;
  const running: RunningProcess[] = [];
  const args = () => ['client', '--data', dataDir, '--port', '0', '--proxy-port', '0', '--allow-private'];

  before(async () => {
    origin = await startHttpOrigin();
    dataDir = tempDataDir();
  });

  after(async () => {
    for (const p of running) await p.stop();
    await origin?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a fresh data dir gives a working proxy at once, a one-time password, and clean shutdown', async () => {
    const p = startSeamoon(args(), { SEAMOON_ADMIN_PASSWORD: '' });
    running.push(p);
    const consolePort = await waitForListening(p, 'seamoon console ');
    const proxyPort = await waitForListening(p, 'proxy default ');
    const password = (await p.waitFor(/one-time password: (\S+)/))[1];

    const socks = await curl([
      '-x',
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    ]);
    assert.equal(socks.exitCode, 0, socks.stderr);
    assert.equal(socks.stdout.toString(), 'hello from origin');
    const http = await curl(['-x', `http://127.0.0.1:${proxyPort}`, `http://127.0.0.1:${origin.port}/hello`]);
    assert.equal(http.stdout.toString(), 'hello from origin');

    const api = apiClient(`http://127.0.0.1:${consolePort}`);
    const login = await api<string>('POST', '/api/v1/user/login', {
      body: { username: 'seamoon', password },
    });
    assert.equal(login.status, 200);
    const tunnels = await api<TunnelView[]>('GET', '/api/v1/tunnel', { token: login.body.data });
    const tunnelPort = tunnels.body.data[0].port;
    assert.equal(await portOpen(tunnelPort), true);

    assert.equal(statSync(join(dataDir, 'secret.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'seamoon.db')).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);

    assert.equal(await p.stop('SIGTERM'), 0);
    assert.equal(await portOpen(tunnelPort), false, 'the local tunnel server stopped with the console');
    assert.equal(await portOpen(proxyPort), false);
  });

  test('a restart restores the proxy without a new password', async () => {
    const p = startSeamoon(args(), { SEAMOON_ADMIN_PASSWORD: '' });
    running.push(p);
    await waitForListening(p, 'seamoon console ');
    const proxyPort = await waitForListening(p, 'proxy default ');
    const res = await curl([
      '-x',
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    ]);
    assert.equal(res.stdout.toString(), 'hello from origin');
    assert.doesNotMatch(p.output(), /password/);
    assert.equal(await p.stop('SIGTERM'), 0);
  });
});
