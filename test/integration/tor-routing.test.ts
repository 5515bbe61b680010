import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import {
  freePort,
  ROOT,
  type RunningProcess,
  start,
  startLocalServer,
  waitForListening,
} from '../helpers/processes.js';
import { openSocksRoute, readExactly, socksConnect } from '../helpers/socks.js';

/**
 * Tor routing on the server: SM-ONION streams and `.onion` targets go to the Tor SOCKS port
 * (`--tor-socks`), everything else never touches it. Stand-ins for Tor's port: Debian's
 * microsocks (a real SOCKS5 server that logs each CONNECT), a recording stand-in for `.onion`
 * names (microsocks would try to resolve them through the system's DNS server, which is not on
 * loopback), and the real `tor` binary kept offline (its only bridge is a closed loopback port).
 */

const TOKEN = 'tor-test-token';
const ONION = 'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion';
const hasBinary = (name: string) => spawnSync('which', [name]).status === 0;

interface SocksOutcome {
  reply: number;
  stream: Duplex;
  elapsedMs: number;
}

/** Opens `/socks5` on the tunnel server (optionally with SM-ONION) and sends a raw CONNECT. */
async function socksThroughTunnel(
  serverPort: number,
  target: { host: string; port: number },
  onion: boolean,
): Promise<SocksOutcome> {
  const stream = await openSocksRoute(serverPort, TOKEN, onion);
  const started = Date.now();
  const reply = await socksConnect(stream, target);
  return { reply, stream, elapsedMs: Date.now() - started };
}

async function httpGetOver(stream: Duplex, path: string): Promise<string> {
  stream.write(`GET ${path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function startServer(extra: string[]): Promise<{ server: RunningProcess; port: number }> {
  const server = startLocalServer(['--token', TOKEN, '--allow-private', '--log-level', 'warn', ...extra]);
  return { server, port: await waitForListening(server) };
}

/** Waits until `text` shows up in a child's combined output. */
function waitForOutput(read: () => string, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (pattern.test(read())) resolve();
      else if (Date.now() - started > timeoutMs)
        reject(new Error(`timed out waiting for ${pattern}:\n${read()}`));
      else setTimeout(check, 50);
    };
    check();
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('Tor routing with microsocks standing in for Tor', { skip: !hasBinary('microsocks') }, () => {
  let origin: Origin;
  let microsocks: ChildProcess;
  let microsocksLog = '';
  let server: RunningProcess;
  let serverPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    const socksPort = await freePort();
    microsocks = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(socksPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      microsocksLog += chunk.toString();
    };
    microsocks.stdout?.on('data', collect);
    microsocks.stderr?.on('data', collect);
    ({ server, port: serverPort } = await startServer(['--tor-socks', `127.0.0.1:${socksPort}`]));
  });

  after(async () => {
    await server?.stop();
    if (microsocks) await stopChild(microsocks);
    await origin?.close();
  });

  test('a plain stream goes direct and never touches the Tor port', async () => {
    const before = microsocksLog;
    const { reply, stream } = await socksThroughTunnel(
      serverPort,
      { host: '127.0.0.1', port: origin.port },
      false,
    );
    assert.equal(reply, 0);
    assert.match(await httpGetOver(stream, '/hello'), /hello from origin/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(microsocksLog, before, 'microsocks saw a connection it should not have');
  });

  test('an SM-ONION stream goes through the Tor port', async () => {
    const { reply, stream } = await socksThroughTunnel(
      serverPort,
      { host: '127.0.0.1', port: origin.port },
      true,
    );
    assert.equal(reply, 0);
    assert.match(await httpGetOver(stream, '/hello'), /hello from origin/);
    await waitForOutput(() => microsocksLog, new RegExp(`connected to 127\\.0\\.0\\.1:${origin.port}`));
  });
});

describe('.onion targets reach the Tor port unresolved', () => {
  let recorder: Server;
  const requested: string[] = [];
  let server: RunningProcess;
  let serverPort: number;
  let plainServer: RunningProcess;
  let plainPort: number;

  before(async () => {
    // A SOCKS5 stand-in that records the CONNECT target and answers "host unreachable" (0x04).
    recorder = createTcpServer((socket: Socket) => {
      socket.on('error', () => {});
      void (async () => {
        const greeting = await readExactly(socket, 2);
        await readExactly(socket, greeting[1]!);
        socket.write(Buffer.from([5, 0]));
        const head = await readExactly(socket, 5);
        const name = await readExactly(socket, head[4]!);
        await readExactly(socket, 2);
        requested.push(`${head[3]}:${name.toString()}`);
        socket.end(Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]));
      })().catch(() => socket.destroy());
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    const recorderPort = (recorder.address() as AddressInfo).port;
    ({ server, port: serverPort } = await startServer(['--tor-socks', `127.0.0.1:${recorderPort}`]));
    ({ server: plainServer, port: plainPort } = await startServer([]));
  });

  after(async () => {
    await server?.stop();
    await plainServer?.stop();
    await new Promise<void>((resolve) => recorder?.close(() => resolve()));
  });

  test('a .onion CONNECT without SM-ONION is sent to Tor as a domain name and Tor’s reply is relayed', async () => {
    const { reply, stream } = await socksThroughTunnel(serverPort, { host: ONION, port: 80 }, false);
    stream.destroy();
    assert.equal(reply, 0x04);
    assert.deepEqual(requested, [`3:${ONION}`]);
  });

  test('without Tor configured, .onion and SM-ONION get clear refusals (no DNS lookup, no hang)', async () => {
    const onionTarget = await socksThroughTunnel(plainPort, { host: ONION, port: 80 }, false);
    onionTarget.stream.destroy();
    assert.equal(onionTarget.reply, 0x04);
    assert.ok(onionTarget.elapsedMs < 2000, `took ${onionTarget.elapsedMs} ms`);
    const onionStream = await socksThroughTunnel(plainPort, { host: '127.0.0.1', port: 9 }, true);
    onionStream.stream.destroy();
    assert.equal(onionStream.reply, 0x07);
  });
});

describe('the real tor binary, offline', { skip: !hasBinary('tor') && 'tor is not installed' }, () => {
  let tor: ChildProcess;
  let torLog = '';
  let dataDir: string;
  let server: RunningProcess;
  let serverPort: number;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'seamoon-tor-'));
    const socksPort = await freePort();
    // The only relay Tor may use is a bridge on a closed loopback port, so it never leaves this host.
    tor = spawn(
      'tor',
      [
        '--SocksPort',
        `127.0.0.1:${socksPort}`,
        '--DataDirectory',
        dataDir,
        '--UseBridges',
        '1',
        '--Bridge',
        '127.0.0.1:9',
        '--ReachableAddresses',
        'accept 127.0.0.1:*,reject *:*',
        '--ClientUseIPv6',
        '0',
        '--SocksTimeout',
        '5',
        '--Log',
        'notice stdout',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const collect = (chunk: Buffer) => {
      torLog += chunk.toString();
    };
    tor.stdout?.on('data', collect);
    tor.stderr?.on('data', collect);
    await waitForOutput(() => torLog, /Opened Socks listener/);
    ({ server, port: serverPort } = await startServer(['--tor-socks', `127.0.0.1:${socksPort}`]));
  });

  after(async () => {
    await server?.stop();
    if (tor) await stopChild(tor);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('an SM-ONION stream reaches Tor, and Tor’s refusal comes back at once', async () => {
    // Tor refuses private addresses itself with 0x01, before any circuit is needed.
    const { reply, stream, elapsedMs } = await socksThroughTunnel(
      serverPort,
      { host: '127.0.0.1', port: 80 },
      true,
    );
    stream.destroy();
    assert.equal(reply, 0x01);
    assert.ok(elapsedMs < 3000, `took ${elapsedMs} ms`);
    await waitForOutput(() => torLog, /Rejecting SOCKS request .* private address/);
  });

  test('a .onion target gets Tor’s own failure reply (TTL expired) before our dial timeout', async () => {
    const { reply, stream, elapsedMs } = await socksThroughTunnel(
      serverPort,
      { host: ONION, port: 80 },
      false,
    );
    stream.destroy();
    // Offline Tor gives up on the circuit after SocksTimeout (5 s) with 0x06, and we relay that verdict.
    assert.equal(reply, 0x06);
    assert.ok(elapsedMs < 9000, `took ${elapsedMs} ms`);
  });
});

/** Settings that keep a real Tor on this host: its only relay is a bridge on a closed loopback port. */
const OFFLINE_TORRC = [
  'UseBridges 1',
  'Bridge 127.0.0.1:9',
  'ReachableAddresses accept 127.0.0.1:*,reject *:*',
  'ClientUseIPv6 0',
  'SocksTimeout 5',
];

describe('the image’s way: entrypoint.sh starts the real tor, then the bundled server', {
  skip: !hasBinary('tor') && 'tor is not installed',
}, () => {
  let dir: string;
  let server: RunningProcess;
  let serverPort: number;
  let pidFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seamoon-tor-image-'));
    const bundle = join(dir, 'seamoon-server.mjs');
    const build = spawnSync(
      process.execPath,
      [join(ROOT, 'scripts/build-server-bundle.mjs'), '--outfile', bundle],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(build.status, 0, build.stderr);
    pidFile = join(dir, 'tor.pid');
    const torrc = join(dir, 'torrc');
    writeFileSync(torrc, [...OFFLINE_TORRC, `PidFile ${pidFile}`, ''].join('\n'));
    server = start(
      '/bin/sh',
      [
        join(ROOT, 'deploy/entrypoint.sh'),
        'server',
        '-a',
        '127.0.0.1',
        '-p',
        '0',
        '--token',
        TOKEN,
        '--log-level',
        'warn',
      ],
      {
        SEAMOON_TOR: 'true',
        SEAMOON_TOR_SOCKS: `127.0.0.1:${await freePort()}`,
        SEAMOON_TOR_DATA: join(dir, 'tor-data'),
        SEAMOON_TORRC: torrc,
        SEAMOON_BUNDLE: bundle,
        SEAMOON_NODE: process.execPath,
      },
    );
    serverPort = await waitForListening(server);
  });

  after(async () => {
    await server?.stop();
    // Tor daemonized itself; its pid file is the way to stop it.
    if (pidFile && existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('Tor was up before the server, and .onion streams get Tor’s own reply', async () => {
    assert.match(server.output(), /tor is accepting connections/);
    const { reply, stream, elapsedMs } = await socksThroughTunnel(
      serverPort,
      { host: ONION, port: 80 },
      false,
    );
    stream.destroy();
    assert.equal(reply, 0x06);
    assert.ok(elapsedMs < 9000, `took ${elapsedMs} ms`);
  });
});
