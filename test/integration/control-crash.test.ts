import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { curl } from '../helpers/curl.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import { type RunningProcess, startSeamoon, waitForListening } from '../helpers/processes.js';
import { apiClient, type ProviderView, tempDataDir, waitUntil } from './control-helpers.js';

const PASSWORD = 'crash-test-password-1';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('crash safety', () => {
  let origin: Origin;
  let dataDir: string;
  const running: RunningProcess[] = [];
  const orphans: number[] = [];
  const start = () => {
    const p = startSeamoon(
      ['client', '--data', dataDir, '--port', '0', '--proxy-port', '0', '--allow-private'],
      {
        SEAMOON_ADMIN_PASSWORD: PASSWORD,
      },
    );
    running.push(p);
    return p;
  };
  const login = async (port: number) => {
    const api = apiClient(`http://127.0.0.1:${port}`);
    const res = await api<string>('POST', '/api/v1/user/login', {
      body: { username: 'seamoon', password: PASSWORD },
    });
    assert.equal(res.status, 200, res.text);
    return { api, token: res.body.data };
  };

  before(async () => {
    origin = await startHttpOrigin();
    dataDir = tempDataDir();
  });

  after(async () => {
    for (const p of running) await p.stop();
    for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await origin?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('kill -9 during a burst of writes loses nothing acknowledged; restart is clean', async () => {
    const first = start();
    const port = await waitForListening(first, 'seamoon console ');
    await waitForListening(first, 'proxy default ');
    const { api, token } = await login(port);
    const tunnel = (await api<Array<{ uniq_id: string }>>('GET', '/api/v1/tunnel', { token })).body.data[0];
    const orphanPid = Number(/(\d+)$/.exec(tunnel.uniq_id)?.[1]);
    assert.ok(orphanPid > 0);
    orphans.push(orphanPid);

    const acknowledged: string[] = [];
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const name = `burst-${next++}`;
        try {
          const res = await api('POST', '/api/v1/provider', { body: { name, type: 'render' }, token });
          if (res.status === 200) acknowledged.push(name);
        } catch {
          return; // the process is gone
        }
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    await waitUntil(async () => (acknowledged.length >= 40 ? true : undefined), 20_000, '40 writes');
    first.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await first.stop();
    assert.ok(alive(orphanPid), 'a SIGKILLed console leaves its child behind');

    // The file opens cleanly and passes SQLite's own integrity check before any restart.
    const db = new BetterSqlite3(join(dataDir, 'seamoon.db'));
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const names = new Set(
      (db.prepare('SELECT name FROM providers').all() as Array<{ name: string }>).map((r) => r.name),
    );
    db.close();
    for (const name of acknowledged) assert.ok(names.has(name), `${name} was acknowledged but lost`);

    const second = start();
    const port2 = await waitForListening(second, 'seamoon console ');
    const proxyPort = await waitForListening(second, 'proxy default ');
    const again = await login(port2);
    const listed = await again.api<ProviderView[]>('GET', '/api/v1/provider?size=1000', {
      token: again.token,
    });
    const listedNames = new Set(listed.body.data.map((p) => p.name));
    for (const name of acknowledged) assert.ok(listedNames.has(name), `${name} missing after restart`);
    const res = await curl([
      '-x',
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    ]);
    assert.equal(res.stdout.toString(), 'hello from origin');
    await waitUntil(async () => (alive(orphanPid) ? undefined : true), 5000, 'orphan reaped');
    assert.equal(await second.stop('SIGTERM'), 0);
  });
});
