import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningConsole, startConsole } from '../../src/control/console.js';
import { curl } from '../helpers/curl.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import {
  apiClient,
  type ProxyView,
  SERVER_COMMAND,
  type TunnelView,
  tempDataDir,
  waitUntil,
} from './control-helpers.js';

const PASSWORD = 'restore-test-password';

describe('console restart and health checks', () => {
  let origin: Origin;
  let dataDir: string;
  let current: RunningConsole | undefined;

  const boot = async () => {
    current = await startConsole({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      proxyPort: 0,
      allowPrivate: true,
      adminPassword: PASSWORD,
      serverCommand: SERVER_COMMAND,
      logDestination: join(dataDir, 'console.log'),
      print: () => {},
    });
    const raw = apiClient(current.url);
    const login = await raw<string>('POST', '/api/v1/user/login', {
      body: { username: 'seamoon', password: PASSWORD },
    });
    const token = login.body.data;
    const api = <T>(method: string, path: string, body?: unknown) => raw<T>(method, path, { token, body });
    const proxy = async () => (await api<ProxyView[]>('GET', '/api/v1/proxy')).body.data[0];
    const tunnel = async () => (await api<TunnelView[]>('GET', '/api/v1/tunnel')).body.data[0];
    return { api, proxy, tunnel };
  };
  const shutdown = async () => {
    await current?.close();
    current = undefined;
  };
  const fetchThrough = (port: number | null) =>
    curl(['-x', `socks5h://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);

  before(async () => {
    origin = await startHttpOrigin();
    dataDir = tempDataDir();
  });

  after(async () => {
    await shutdown();
    await origin?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a dead tunnel server goes to Error by the periodic check; a redeploy heals the running proxy', async () => {
    const { api, proxy, tunnel } = await boot();
    await api('PUT', '/api/v1/config', { health_interval: '1' });
    const before = await tunnel();
    assert.equal(before.status, 2);
    const pid = Number(/(\d+)$/.exec((before as TunnelView & { uniq_id: string }).uniq_id)?.[1]);
    process.kill(pid, 'SIGKILL');
    const failed = await waitUntil(
      async () => {
        const t = await tunnel();
        return t.status === 4 ? t : undefined;
      },
      10_000,
      'tunnel Error',
    );
    assert.match(failed.status_message, /health check failed/);
    const p = await proxy();
    assert.notEqual((await fetchThrough(p.bound_port)).exitCode, 0);

    await api('PUT', `/api/v1/tunnel/${before.id}`, { status: 2 });
    const healed = await waitUntil(
      async () => {
        const t = await tunnel();
        return t.status === 2 && t.port !== before.port ? t : undefined;
      },
      20_000,
      'redeployed tunnel',
    );
    assert.ok(healed.latency_ms >= 0);
    // Same listener, new tunnel address: no proxy restart was needed.
    assert.equal((await proxy()).bound_port, p.bound_port);
    assert.equal((await fetchThrough(p.bound_port)).stdout.toString(), 'hello from origin');
    await api('PUT', '/api/v1/config', { auto_start: 'false', health_interval: '60' });
    await shutdown();
  });

  test('auto_start off: the proxy row says Inactive instead of pretending to run', async () => {
    const { api, proxy, tunnel } = await boot();
    const p = await proxy();
    assert.equal(p.status, 3);
    assert.equal(p.status_message, 'auto_start is off');
    assert.equal(p.bound_port, null);
    assert.equal(p.conn, 0);
    assert.equal((await tunnel()).status, 2, 'the local tunnel is redeployed at start');
    await api('PUT', '/api/v1/config', { auto_start: 'true' });
    await shutdown();
  });

  test('auto_start on: the proxy comes back and carries traffic', async () => {
    const { proxy } = await boot();
    const p = await waitUntil(
      async () => {
        const row = await proxy();
        return row.status === 2 && row.bound_port ? row : undefined;
      },
      20_000,
      'proxy restored',
    );
    assert.equal((await fetchThrough(p.bound_port)).stdout.toString(), 'hello from origin');
    await shutdown();
  });
});
