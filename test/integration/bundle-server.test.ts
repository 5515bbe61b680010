import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { curl, curlThrough } from '../helpers/curl.js';
import { type Origin, patternBytes, sha256, startHttpOrigin } from '../helpers/origin.js';
import {
  ROOT,
  type RunningProcess,
  start,
  startConnect,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';

/**
 * The server bundle (`npm run build:server`) is what the container image runs. Here it is built
 * with a known commit into an empty temp directory — no node_modules anywhere above it — and must
 * serve like `seamoon server` run from the sources.
 */

const TOKEN = 'bundle-test-token';
const COMMIT = 'bundletest1234';

function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let current = dir; ; current = dirname(current)) {
    if (existsSync(join(current, 'node_modules'))) found.push(join(current, 'node_modules'));
    if (dirname(current) === current) return found;
  }
}

/** The V8 flags the entrypoint uses (single source: deploy/entrypoint.sh). */
function entrypointNodeFlags(): string[] {
  const text = readFileSync(join(ROOT, 'deploy/entrypoint.sh'), 'utf8');
  const match = text.match(/NODE_FLAGS="\$\{SEAMOON_NODE_FLAGS:-([^}]*)\}"/);
  assert.ok(match, 'NODE_FLAGS default not found in entrypoint.sh');
  return match[1]!.split(/\s+/).filter(Boolean);
}

const SERVER_ARGS = [
  '-a',
  '127.0.0.1',
  '-p',
  '0',
  '--token',
  TOKEN,
  '--allow-private',
  '--log-level',
  'warn',
];

async function healthLines(port: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/_health`);
  assert.equal(res.status, 200);
  return (await res.text()).split('\n');
}

/** HTTP status of a WebSocket upgrade to `/socks5` (101 when accepted). */
function upgradeStatus(port: number, token: string): Promise<number> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/socks5`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return new Promise<number>((resolve) => {
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('open', () => resolve(101));
    socket.once('error', () => resolve(-1));
  }).finally(() => socket.terminate());
}

describe('the server bundle', () => {
  let dir: string;
  let bundle: string;
  let origin: Origin;
  const processes: RunningProcess[] = [];

  const startBundle = (args: string[], flags = entrypointNodeFlags()) => {
    const p = start(process.execPath, [...flags, bundle, 'server', ...args]);
    processes.push(p);
    return p;
  };
  const connectThrough = async (tunnel: string, extra: string[] = []) => {
    const { process, port } = await startConnect(tunnel, TOKEN, extra);
    processes.push(process);
    return port;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seamoon-bundle-'));
    bundle = join(dir, 'seamoon-server.mjs');
    const build = spawnSync(
      process.execPath,
      [join(ROOT, 'scripts/build-server-bundle.mjs'), '--outfile', bundle],
      {
        env: { ...process.env, SEAMOON_COMMIT: COMMIT },
        encoding: 'utf8',
      },
    );
    assert.equal(build.status, 0, build.stderr);
    origin = await startHttpOrigin();
  });

  after(async () => {
    for (const p of processes.reverse()) await p.stop();
    await origin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('is one file, alone in its directory, with no node_modules to lean on', () => {
    assert.deepEqual(nodeModulesAbove(dir), []);
    const size = statSync(bundle).size;
    assert.ok(size > 50_000 && size < 4 * 1024 * 1024, `bundle size ${size}`);
    const text = readFileSync(bundle, 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'));
    assert.ok(!/better-sqlite3|kysely|hono/.test(text), 'console dependencies must not be bundled');
  });

  test('`server --help` matches the sources', () => {
    const fromBundle = spawnSync(process.execPath, [bundle, 'server', '--help'], { encoding: 'utf8' });
    const fromSource = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'server', '--help'],
      { encoding: 'utf8', cwd: ROOT },
    );
    assert.equal(fromBundle.status, 0, fromBundle.stderr);
    assert.equal(fromBundle.stdout, fromSource.stdout);
    assert.match(fromBundle.stdout, /--tor-socks/);
    assert.match(fromBundle.stdout, /--cascade/);
  });

  test('websocket: health with the baked-in commit, auth, and curl through seamoon connect', async () => {
    const fromBundle = startBundle(SERVER_ARGS);
    const bundlePort = await waitForListening(fromBundle);
    const fromSource = startSeamoon(['server', ...SERVER_ARGS]);
    processes.push(fromSource);
    const sourcePort = await waitForListening(fromSource);

    const bundleHealth = await healthLines(bundlePort);
    const sourceHealth = await healthLines(sourcePort);
    assert.equal(bundleHealth.length, sourceHealth.length);
    assert.equal(bundleHealth[0], 'OK');
    assert.match(bundleHealth[2] ?? '', new RegExp(`-${COMMIT}$`), 'the commit is injected at build time');
    assert.equal(bundleHealth[3], sourceHealth[3]);

    assert.equal(await upgradeStatus(bundlePort, 'wrong-token'), 401);
    assert.equal(await upgradeStatus(sourcePort, 'wrong-token'), 401);
    assert.equal(await upgradeStatus(bundlePort, TOKEN), 101);

    for (const extra of [[], ['--compat']]) {
      const proxyPort = await connectThrough(`ws://127.0.0.1:${bundlePort}`, extra);
      const socks = await curl([
        '-x',
        `socks5h://127.0.0.1:${proxyPort}`,
        `http://127.0.0.1:${origin.port}/bytes?n=1048576&seed=3`,
      ]);
      assert.equal(socks.exitCode, 0, socks.stderr);
      assert.equal(sha256(socks.stdout), sha256(patternBytes(1_048_576, 3)));
      const http = await curl([
        '-x',
        `http://127.0.0.1:${proxyPort}`,
        `http://127.0.0.1:${origin.port}/hello`,
      ]);
      assert.equal(http.exitCode, 0, http.stderr);
      assert.equal(http.stdout.toString(), 'hello from origin');
    }
  });

  test('grpc: curl through seamoon connect --tunnel grpc://', async () => {
    const server = startBundle(['-t', 'grpc', ...SERVER_ARGS]);
    const port = await waitForListening(server);
    assert.match(server.output(), /\(grpc/);
    const proxyPort = await connectThrough(`grpc://127.0.0.1:${port}`);
    const body = await curlThrough(
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/bytes?n=1048576&seed=5`,
    );
    assert.equal(sha256(body), sha256(patternBytes(1_048_576, 5)));
  });

  test('runs under deploy/entrypoint.sh with the memory flags', async () => {
    const p = start('/bin/sh', [join(ROOT, 'deploy/entrypoint.sh'), 'server', ...SERVER_ARGS], {
      SEAMOON_BUNDLE: bundle,
      SEAMOON_NODE: process.execPath,
      SEAMOON_TOR: '',
    });
    processes.push(p);
    const port = await waitForListening(p);
    assert.equal((await healthLines(port))[0], 'OK');
    // `exec` made the shell's pid the server's: its command line carries the entrypoint's flags.
    const cmdline = readFileSync(`/proc/${p.proc.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of entrypointNodeFlags())
      assert.ok(cmdline.includes(flag), `${flag} in ${cmdline.join(' ')}`);
    assert.ok(cmdline.includes(bundle));
  });
});
