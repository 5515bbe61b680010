import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createTcpServer,
  type Socket,
} from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SocksClient } from 'socks';
import { curl, curlThrough, httpStatusThrough } from '../helpers/curl.js';
import {
  makeSelfSignedCert,
  type Origin,
  patternBytes,
  sha256,
  startHttpOrigin,
  startHttpsOrigin,
  startUdpEcho,
  type UdpEcho,
} from '../helpers/origin.js';
import {
  type RunningProcess,
  startLocalServer,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';

const TOKEN = 'connect-test-token-1234';

/** `seamoon connect` prints one `listening on HOST:PORT (scheme)` line per listener. */
async function listenerPorts(p: RunningProcess, count: number): Promise<number[]> {
  const pattern = new RegExp(`(?:seamoon connect listening on .*\\n[^]*){${count}}`);
  await p.waitFor(pattern);
  return [...p.output().matchAll(/seamoon connect listening on \[?[^\s\]]*\]?:(\d+) \((\w+)\)/g)].map((m) =>
    Number(m[1]),
  );
}

/** Sends raw bytes to a listener and collects everything until it closes. */
function rawExchange(port: number, bytes: Buffer, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `listener did not close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString('hex')}`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write(bytes);
  });
}

/** An origin that trickles 64 KiB every 25 ms, so a download lasts long enough to watch. */
async function startSlowOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(64 * 1024, 0x61));
      sent += 1;
      if (sent === 80) {
        clearInterval(timer);
        res.end();
      }
    }, 25);
    res.once('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `--compat`: one WebSocket per app connection (the original's routes); default: the multiplexed fast path. */
for (const mode of ['compat', 'mux'] as const) {
  describe(`seamoon connect → ws (${mode}) → seamoon server, with curl`, () => {
    let origin: Origin;
    let otherOrigin: Origin;
    let tlsOrigin: Origin;
    let slowOrigin: { port: number; close(): Promise<void> };
    let udpEcho: UdpEcho;
    let server: RunningProcess;
    let client: RunningProcess;
    let mixedPort = 0;
    let socksAuthPort = 0;
    let httpAuthPort = 0;
    let closedPort = 0;

    before(async () => {
      origin = await startHttpOrigin();
      otherOrigin = await startHttpOrigin();
      tlsOrigin = await startHttpsOrigin(makeSelfSignedCert());
      slowOrigin = await startSlowOrigin();
      udpEcho = await startUdpEcho();
      const probe = createTcpServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      closedPort = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));

      server = startLocalServer(['--token', TOKEN, '--allow-private']);
      const serverPort = await waitForListening(server);
      client = startSeamoon([
        'connect',
        '--tunnel',
        `ws://127.0.0.1:${serverPort}`,
        '--token',
        TOKEN,
        '--listen',
        'mixed://127.0.0.1:0',
        '--listen',
        'socks5://alice:s3cret@127.0.0.1:0',
        '--listen',
        'http://alice:s3cret@127.0.0.1:0',
        ...(mode === 'compat' ? ['--compat'] : []),
      ]);
      [mixedPort, socksAuthPort, httpAuthPort] = await listenerPorts(client, 3);
    });

    after(async () => {
      await client?.stop();
      await server?.stop();
      await Promise.all([
        origin?.close(),
        otherOrigin?.close(),
        tlsOrigin?.close(),
        slowOrigin?.close(),
        udpEcho?.close(),
      ]);
    });

    test('curl through SOCKS5 (socks5h) reaches the origin', async () => {
      const body = await curlThrough(
        `socks5h://127.0.0.1:${mixedPort}`,
        `http://127.0.0.1:${origin.port}/hello`,
      );
      assert.equal(body.toString(), 'hello from origin');
    });

    test('curl through the HTTP proxy (absolute URI) reaches the origin', async () => {
      const body = await curlThrough(`http://127.0.0.1:${mixedPort}`, `http://localhost:${origin.port}/host`);
      assert.equal(body.toString(), `localhost:${origin.port}`);
    });

    test('HTTPS through CONNECT to a TLS origin', async () => {
      const result = await curl([
        '-k',
        '--proxytunnel',
        '-x',
        `http://127.0.0.1:${mixedPort}`,
        `https://127.0.0.1:${tlsOrigin.port}/hello`,
      ]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.toString(), 'hello from origin');
    });

    test('two keep-alive requests to two hosts in one curl run: each answered by its own origin', async () => {
      const result = await curl([
        '-v',
        '-x',
        `http://127.0.0.1:${mixedPort}`,
        `http://127.0.0.1:${origin.port}/host`,
        `http://127.0.0.1:${otherOrigin.port}/host`,
      ]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.toString(), `127.0.0.1:${origin.port}127.0.0.1:${otherOrigin.port}`);
      // Both requests went over one proxy connection.
      assert.match(result.stderr, /Re-using existing connection/);
    });

    test('a 64 MiB download arrives intact (sha256)', async () => {
      const n = 64 * 1024 * 1024;
      const result = await curl(
        ['-x', `socks5h://127.0.0.1:${mixedPort}`, `http://127.0.0.1:${origin.port}/bytes?n=${n}&seed=7`],
        60_000,
      );
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.length, n);
      assert.equal(sha256(result.stdout), sha256(patternBytes(n, 7)));
    });

    test('200 concurrent SOCKS5 connections, every body checked', async () => {
      const count = 200;
      const size = 16 * 1024;
      const sockets: Socket[] = [];
      try {
        // Open all of them first, so they really are open at the same time.
        const opened = await Promise.all(
          Array.from({ length: count }, () =>
            SocksClient.createConnection({
              proxy: { host: '127.0.0.1', port: mixedPort, type: 5 },
              command: 'connect',
              destination: { host: '127.0.0.1', port: origin.port },
              timeout: 20_000,
            }),
          ),
        );
        for (const { socket } of opened) sockets.push(socket);
        const bodies = await Promise.all(
          sockets.map(
            (socket, i) =>
              new Promise<Buffer>((resolve, reject) => {
                const chunks: Buffer[] = [];
                socket.on('data', (chunk: Buffer) => chunks.push(chunk));
                socket.once('error', reject);
                socket.once('end', () => resolve(Buffer.concat(chunks)));
                socket.write(
                  `GET /bytes?n=${size}&seed=${i + 1} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
                );
              }),
          ),
        );
        for (const [i, raw] of bodies.entries()) {
          const split = raw.indexOf('\r\n\r\n');
          assert.ok(split > 0, `response ${i} has a head`);
          assert.match(raw.subarray(0, split).toString(), /^HTTP\/1\.1 200/);
          assert.equal(sha256(raw.subarray(split + 4)), sha256(patternBytes(size, i + 1)), `body ${i}`);
        }
      } finally {
        for (const socket of sockets) socket.destroy();
      }
    });

    test('UDP ASSOCIATE echo through the local SOCKS5', async () => {
      const udp = createSocket('udp4');
      const control = new SocksClient({
        proxy: { host: '127.0.0.1', port: mixedPort, type: 5 },
        command: 'associate',
        destination: { host: '0.0.0.0', port: 0 },
        timeout: 5000,
      });
      try {
        await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
        const relay = await new Promise<{ host: string; port: number }>((resolve, reject) => {
          control.once('established', (info) => {
            if (info.remoteHost) resolve(info.remoteHost);
            else reject(new Error('no relay address in the reply'));
          });
          control.once('error', reject);
          control.connect();
        });
        assert.equal(relay.host, '127.0.0.1');
        assert.ok(relay.port > 0);
        const answers: Buffer[] = [];
        const got = new Promise<void>((resolve) => {
          udp.on('message', (message) => {
            answers.push(message);
            if (answers.length === 2) resolve();
          });
        });
        for (const text of ['ping-1', 'ping-2']) {
          const frame = SocksClient.createUDPFrame({
            remoteHost: { host: '127.0.0.1', port: udpEcho.port },
            data: Buffer.from(text),
          });
          udp.send(frame, relay.port, relay.host);
        }
        await Promise.race([
          got,
          new Promise((_, reject) => setTimeout(() => reject(new Error('no UDP answer within 5 s')), 5000)),
        ]);
        const parsed = answers.map((message) => SocksClient.parseUDPFrame(message));
        assert.deepEqual(parsed.map((frame) => frame.data.toString()).sort(), ['echo:ping-1', 'echo:ping-2']);
        for (const frame of parsed) {
          assert.equal(frame.remoteHost.port, udpEcho.port, 'the answer names the echo server as its source');
        }
      } finally {
        udp.close();
        control.removeAllListeners();
      }
    });

    test('unreachable target (closed local port): clear refusal, no hang', async () => {
      const started = Date.now();
      const socks = await curl(
        ['-x', `socks5h://127.0.0.1:${mixedPort}`, `http://127.0.0.1:${closedPort}/`],
        10_000,
      );
      if (mode === 'mux') {
        // The fast path answered the app before the server tried the target: a closed
        // connection, no data (exact codes: --exact-errors, see connect-errors.test.ts).
        assert.notEqual(socks.exitCode, 0);
        assert.equal(socks.stdout.length, 0);
      } else {
        assert.equal(socks.exitCode, 97, socks.stderr);
        assert.match(socks.stderr, /\(5\)/, 'SOCKS reply 0x05 connection refused');
      }
      const httpStatus = await httpStatusThrough(
        `http://127.0.0.1:${mixedPort}`,
        `http://127.0.0.1:${closedPort}/`,
        10_000,
      );
      assert.equal(httpStatus, '502');
      assert.ok(Date.now() - started < 8000);
    });

    test('malformed SOCKS5 and HTTP bytes are answered and closed; the proxy keeps serving', async () => {
      // Greeting OK (no auth), then a CONNECT with an unknown address type 0x09.
      const badAtyp = await rawExchange(mixedPort, Buffer.from([5, 1, 0, 5, 1, 0, 9, 1, 2, 3, 4, 0, 80]));
      assert.deepEqual([...badAtyp.subarray(0, 2)], [5, 0], 'method selection');
      assert.equal(badAtyp[3], 0x08, 'reply 0x08 address type not supported');
      const badHttp = await rawExchange(mixedPort, Buffer.from('THIS IS NOT HTTP\r\n\r\n'));
      assert.match(badHttp.toString(), /^HTTP\/1\.[01] 400/);
      const result = await curl([
        '-x',
        `socks5h://127.0.0.1:${mixedPort}`,
        `http://127.0.0.1:${origin.port}/hello`,
      ]);
      assert.equal(result.stdout.toString(), 'hello from origin');
    });

    test('local SOCKS5 username/password (RFC 1929)', async () => {
      const url = `http://127.0.0.1:${origin.port}/hello`;
      const ok = await curl(['-x', `socks5h://alice:s3cret@127.0.0.1:${socksAuthPort}`, url]);
      assert.equal(ok.exitCode, 0, ok.stderr);
      assert.equal(ok.stdout.toString(), 'hello from origin');
      const wrong = await curl(['-x', `socks5h://alice:wrong@127.0.0.1:${socksAuthPort}`, url]);
      assert.notEqual(wrong.exitCode, 0);
      const none = await curl(['-x', `socks5h://127.0.0.1:${socksAuthPort}`, url]);
      assert.notEqual(none.exitCode, 0);
    });

    test('local HTTP proxy credentials: 407 without --proxy-user, 200 with', async () => {
      const url = `http://127.0.0.1:${origin.port}/hello`;
      const deniedStatus = await httpStatusThrough(`http://127.0.0.1:${httpAuthPort}`, url);
      assert.equal(deniedStatus, '407');
      const ok = await curl(['--proxy-user', 'alice:s3cret', '-x', `http://127.0.0.1:${httpAuthPort}`, url]);
      assert.equal(ok.exitCode, 0, ok.stderr);
      assert.equal(ok.stdout.toString(), 'hello from origin');
    });

    test('live byte counters move during a long download (SIGUSR1)', async () => {
      const statsDown = async (): Promise<{ down: number; active: number }> => {
        const before = client.output().length;
        client.proc.kill('SIGUSR1');
        const pattern =
          /stats mixed:\/\/127\.0\.0\.1:\d+: active (\d+), total \d+, up [^(]*\(\d+\), down [^(]*\((\d+)\)/;
        for (let i = 0; i < 50; i++) {
          const match = client.output().slice(before).match(pattern);
          if (match) return { active: Number(match[1]), down: Number(match[2]) };
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        throw new Error(`no stats line after SIGUSR1:\n${client.output().slice(before)}`);
      };
      const baseline = await statsDown();
      const download = curl([
        '-x',
        `socks5h://127.0.0.1:${mixedPort}`,
        `http://127.0.0.1:${slowOrigin.port}/`,
      ]);
      let finished = false;
      void download.then(() => {
        finished = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 600));
      const first = await statsDown();
      await new Promise((resolve) => setTimeout(resolve, 600));
      const second = await statsDown();
      assert.equal(finished, false, 'the download is still running');
      assert.ok(first.active >= 1, 'the download counts as active');
      assert.ok(
        second.down > first.down,
        `down grew while the download ran (${first.down} → ${second.down})`,
      );
      const result = await download;
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.length, 80 * 64 * 1024);
      const last = await statsDown();
      assert.ok(last.down - baseline.down >= result.stdout.length, 'the whole download was counted');
    });

    test('SIGTERM closes everything and exits 0', async () => {
      // Last test: stops the shared client.
      const code = await client.stop('SIGTERM');
      assert.equal(code, 0);
    });
  });
}
