import assert from 'node:assert/strict';
import { type AddressInfo, connect as connectTcp, createServer as createTcpServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { curl, httpStatusThrough } from '../helpers/curl.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import {
  type RunningProcess,
  startLocalServer,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';

const TOKEN = 'connect-errors-token-5678';

async function startConnect(args: string[]): Promise<{ process: RunningProcess; port: number }> {
  const process = startSeamoon(['connect', '--listen', 'mixed://127.0.0.1:0', ...args]);
  const port = await waitForListening(process, 'seamoon connect ');
  return { process, port };
}

/** One SOCKS5 CONNECT by hand; resolves with the reply code. */
function socksReplyCode(proxyPort: number, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(proxyPort, '127.0.0.1');
    const name = Buffer.from(host);
    const request = Buffer.concat([
      Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]),
      name,
      Buffer.from([port >> 8, port & 0xff]),
    ]);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no SOCKS reply within 5 s'));
    }, 5000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 4) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received[3]);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(request);
  });
}

/**
 * `compat`: one WebSocket per connection; `mux`: the default fast path, which answers SOCKS5 and
 * CONNECT before the server has tried the target (so a refused target shows up as a closed
 * connection); `exact`: the fast path with `--exact-errors`, which waits for the server's answer.
 */
const MODE_FLAGS = { compat: ['--compat'], mux: [], exact: ['--exact-errors'] } as const;

for (const mode of ['compat', 'mux', 'exact'] as const) {
  describe(`seamoon connect (${mode}): errors reach the app clearly`, () => {
    const modeFlags = MODE_FLAGS[mode];
    let origin: Origin;
    let guardedServer: RunningProcess;
    let guardedClient: { process: RunningProcess; port: number };
    let wrongToken: { process: RunningProcess; port: number };
    let deadTunnel: { process: RunningProcess; port: number };

    before(async () => {
      origin = await startHttpOrigin();
      // A loopback port nothing listens on: bind, read it back, close.
      const probe = createTcpServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const closedPort = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      // No --allow-private: the egress guard refuses loopback targets.
      guardedServer = startLocalServer(['--token', TOKEN]);
      const serverPort = await waitForListening(guardedServer);
      const tunnel = `ws://127.0.0.1:${serverPort}`;
      [guardedClient, wrongToken, deadTunnel] = await Promise.all([
        startConnect(['--tunnel', tunnel, '--token', TOKEN, ...modeFlags]),
        startConnect(['--tunnel', tunnel, '--token', 'not-the-token', ...modeFlags]),
        startConnect([
          '--tunnel',
          `ws://127.0.0.1:${closedPort}`,
          '--token',
          TOKEN,
          '--stats',
          '1',
          ...modeFlags,
        ]),
      ]);
    });

    after(async () => {
      await Promise.all([
        guardedClient?.process.stop(),
        wrongToken?.process.stop(),
        deadTunnel?.process.stop(),
      ]);
      await guardedServer?.stop();
      await origin?.close();
    });

    test('wrong token: curl fails fast and connect says the tunnel rejected the token', async () => {
      const started = Date.now();
      const socks = await curl([
        '-x',
        `socks5h://127.0.0.1:${wrongToken.port}`,
        `http://127.0.0.1:${origin.port}/hello`,
      ]);
      assert.equal(socks.exitCode, 97, socks.stderr);
      assert.match(socks.stderr, /\(2\)/, 'SOCKS reply 0x02');
      const httpStatus = await httpStatusThrough(
        `http://127.0.0.1:${wrongToken.port}`,
        `http://127.0.0.1:${origin.port}/hello`,
      );
      // The tunnel refused us, not the app: a gateway failure, never 407 (which would ask the app
      // for its own proxy credentials).
      assert.equal(httpStatus, '502');
      assert.ok(Date.now() - started < 5000, 'no hang');
      await wrongToken.process.waitFor(/tunnel rejected the token/, 5000);
      assert.ok(!wrongToken.process.output().includes('not-the-token'), 'the token is never logged');
    });

    test('private target refused by the server without --allow-private: SOCKS 0x02, HTTP 403', async () => {
      // Plain HTTP requests are never answered early: the refusal is always a 403.
      const httpStatus = await httpStatusThrough(
        `http://127.0.0.1:${guardedClient.port}`,
        `http://127.0.0.1:${origin.port}/hello`,
      );
      assert.equal(httpStatus, '403');
      const socks = await curl([
        '-x',
        `socks5h://127.0.0.1:${guardedClient.port}`,
        `http://127.0.0.1:${origin.port}/hello`,
      ]);
      const connect = await curl([
        '-w',
        '%{http_connect}',
        '--proxytunnel',
        '-x',
        `http://127.0.0.1:${guardedClient.port}`,
        `http://127.0.0.1:${origin.port}/hello`,
      ]);
      if (mode === 'mux') {
        // Answered "connected" at once, then closed without a byte from the refused target.
        assert.equal(await socksReplyCode(guardedClient.port, '127.0.0.1', origin.port), 0x00);
        assert.notEqual(socks.exitCode, 0);
        assert.equal(socks.stdout.length, 0);
        assert.notEqual(connect.exitCode, 0);
        assert.equal(connect.stdout.toString(), '200');
        await guardedClient.process.waitFor(/EGRESS_DENIED|denied/i, 5000);
      } else {
        assert.equal(await socksReplyCode(guardedClient.port, '127.0.0.1', origin.port), 0x02);
        assert.equal(await socksReplyCode(guardedClient.port, 'localhost', origin.port), 0x02);
        assert.equal(socks.exitCode, 97);
        assert.equal(connect.stdout.toString(), '403');
      }
    });

    test('tunnel server down: clear error, no hang, and the listener keeps serving', async () => {
      const started = Date.now();
      for (let i = 0; i < 2; i++) {
        const socks = await curl([
          '-x',
          `socks5h://127.0.0.1:${deadTunnel.port}`,
          `http://127.0.0.1:${origin.port}/hello`,
        ]);
        assert.equal(socks.exitCode, 97, socks.stderr);
        const httpStatus = await httpStatusThrough(
          `http://127.0.0.1:${deadTunnel.port}`,
          `http://127.0.0.1:${origin.port}/hello`,
        );
        assert.equal(httpStatus, '502');
      }
      assert.ok(Date.now() - started < 5000, 'no hang');
      await deadTunnel.process.waitFor(/unreachable: .*ECONNREFUSED/, 5000);
      // `--stats 1` prints the listener's counters, errors by code included.
      await deadTunnel.process.waitFor(
        /stats mixed:\/\/127\.0\.0\.1:\d+: .*total 4,.*TUNNEL_UNAVAILABLE=4/,
        3000,
      );
    });
  });
}

describe('seamoon connect: command line', () => {
  test('bad command-line input: one-line error, exit 2', async () => {
    const bad = startSeamoon(['connect', '--tunnel', 'ws://127.0.0.1:9', '--listen', 'ftp://127.0.0.1:0']);
    const code = await new Promise<number | null>((resolve) => bad.proc.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(bad.output(), /^seamoon connect: unsupported listen scheme "ftp"/m);
    assert.equal(bad.output().trim().split('\n').length, 1);
    const noTunnel = startSeamoon(['connect']);
    assert.equal(await new Promise<number | null>((resolve) => noTunnel.proc.once('exit', resolve)), 2);
    assert.match(noTunnel.output(), /--tunnel <url> is required/);
    const badScheme = startSeamoon([
      'connect',
      '--tunnel',
      'ftp://127.0.0.1:9',
      '--listen',
      'mixed://127.0.0.1:0',
    ]);
    assert.equal(await new Promise<number | null>((resolve) => badScheme.proc.once('exit', resolve)), 2);
    assert.match(badScheme.output(), /unsupported tunnel scheme "ftp:"/);
  });
});
