import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { parseServerOptions } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { curl, curlThrough } from '../helpers/curl.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import { type RunningProcess, startSeamoon, waitForListening } from '../helpers/processes.js';

const TOKEN = 'pool-curl-token';
const STRATEGIES = ['round-robin', 'random', 'sticky', 'least-latency'] as const;

async function startTunnelServer(): Promise<RunningServer> {
  const options = parseServerOptions(
    { addr: '127.0.0.1', port: '0', token: TOKEN, allowPrivate: true, logLevel: 'silent' },
    {},
  );
  return startServer(options, { log: silentLogger, env: {} });
}

/** Asks a running `seamoon connect` for its stats (SIGUSR1) and returns `total` per tunnel URL. */
async function tunnelTotals(p: RunningProcess, urls: string[]): Promise<number[]> {
  const before = p.output().length;
  p.proc.kill('SIGUSR1');
  await p.waitFor(new RegExp(`stats tunnel ${urls[urls.length - 1]} [^\\n]*\\n`), 5000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const fresh = p.output().slice(before);
  return urls.map((url) => {
    const line = fresh.split('\n').find((l) => l.startsWith(`stats tunnel ${url} `));
    assert.ok(line, `stats line for ${url} in:\n${fresh}`);
    return Number(/ total=(\d+)/.exec(line)?.[1]);
  });
}

describe('seamoon connect with a pool of three tunnels, through curl', () => {
  const servers: RunningServer[] = [];
  const clients = new Map<string, { process: RunningProcess; port: number }>();
  let urls: string[] = [];
  let origin: Origin;
  const dir = mkdtempSync(join(tmpdir(), 'seamoon-pool-'));

  before(async () => {
    origin = await startHttpOrigin();
    for (let i = 0; i < 3; i++) servers.push(await startTunnelServer());
    urls = servers.map((s) => `ws://127.0.0.1:${s.address.port}`);
    // least-latency reads its tunnels from a file (comments and blank lines allowed).
    const tunnelsFile = join(dir, 'tunnels.txt');
    writeFileSync(tunnelsFile, `# three local servers\n${urls.join('\n')}\n\n`);
    await Promise.all(
      STRATEGIES.map(async (strategy) => {
        const tunnelArgs =
          strategy === 'least-latency'
            ? ['--tunnels-file', tunnelsFile]
            : urls.flatMap((url) => ['--tunnel', url]);
        const process = startSeamoon([
          'connect',
          ...tunnelArgs,
          '--token',
          TOKEN,
          '--strategy',
          strategy,
          '--listen',
          'mixed://127.0.0.1:0',
          '--log-level',
          'warn',
        ]);
        clients.set(strategy, { process, port: await waitForListening(process, 'seamoon connect ') });
      }),
    );
  });

  after(async () => {
    await Promise.all([...clients.values()].map((c) => c.process.stop()));
    for (const s of servers) await s.close();
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const strategy of STRATEGIES) {
    test(`curl works through ${strategy} (SOCKS5 and HTTP proxy)`, async () => {
      const { port } = clients.get(strategy)!;
      for (const proxy of [`socks5h://127.0.0.1:${port}`, `http://127.0.0.1:${port}`]) {
        const body = await curlThrough(proxy, `http://127.0.0.1:${origin.port}/hello`);
        assert.equal(body.toString(), 'hello from origin');
      }
      const viaConnect = await curl([
        '--proxytunnel',
        '-x',
        `http://127.0.0.1:${port}`,
        `http://localhost:${origin.port}/host`,
      ]);
      assert.equal(viaConnect.exitCode, 0, viaConnect.stderr);
      assert.equal(viaConnect.stdout.toString(), `localhost:${origin.port}`);
    });
  }

  test('--tunnels-file forms the same pool as repeated --tunnel', async () => {
    const { process } = clients.get('least-latency')!;
    const listening = /listening on [^\n]* via least-latency pool of ([^\n]*)/.exec(process.output());
    assert.deepEqual(listening?.[1].split(', '), urls);
    // Every tunnel of the file has its stats line (tunnelTotals asserts it).
    assert.equal((await tunnelTotals(process, urls)).length, 3);
  });

  test('sticky keeps a host on one tunnel; round-robin spreads it', async () => {
    const sticky = clients.get('sticky')!;
    const roundRobin = clients.get('round-robin')!;
    const baseSticky = await tunnelTotals(sticky.process, urls);
    const baseRr = await tunnelTotals(roundRobin.process, urls);
    for (let i = 0; i < 6; i++) {
      for (const client of [sticky, roundRobin]) {
        await curlThrough(`socks5h://127.0.0.1:${client.port}`, `http://localhost:${origin.port}/hello`);
      }
    }
    const stickyDelta = (await tunnelTotals(sticky.process, urls)).map((n, i) => n - baseSticky[i]);
    const rrDelta = (await tunnelTotals(roundRobin.process, urls)).map((n, i) => n - baseRr[i]);
    assert.deepEqual([...stickyDelta].sort(), [0, 0, 6], `sticky: ${stickyDelta}`);
    assert.deepEqual(rrDelta, [2, 2, 2], `round-robin: ${rrDelta}`);
  });
});
