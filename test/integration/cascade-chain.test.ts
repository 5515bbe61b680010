import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { curlThrough } from '../helpers/curl.js';
import {
  type Origin,
  patternBytes,
  sha256,
  startHttpOrigin,
  startUdpEcho,
  type UdpEcho,
} from '../helpers/origin.js';
import {
  freePort,
  type RunningProcess,
  startConnect,
  startLocalServer,
  waitForListening,
} from '../helpers/processes.js';
import { openSocksRoute, socksConnect } from '../helpers/socks.js';
import { udpEchoThroughSocks } from '../helpers/v2ray.js';

/**
 * A chain of three tunnel servers: curl → seamoon connect → s1 →(ws) s2 →(grpc) s3 → origin. Each hop has
 * its own token and terminates the protocol itself; only s3 allows private targets, so reaching
 * the loopback origin at all proves the traffic left through the last hop and that the earlier
 * hops' egress guards did not apply.
 */

const TOKENS = { s1: 'hop-one-token', s2: 'hop-two-token', s3: 'hop-three-token' };
const hasMicrosocks = spawnSync('which', ['microsocks']).status === 0;

function server(token: string, extra: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  return startLocalServer(['--token', token, '--log-level', 'warn', ...extra], env);
}

/** A SOCKS5 CONNECT sent straight to a server's `/socks5` route; resolves with the reply code. */
async function socksReply(
  port: number,
  token: string,
  target: { ip: string; port: number },
  onion = false,
): Promise<{ reply: number; stream: Duplex }> {
  const stream = await openSocksRoute(port, token, onion);
  return { reply: await socksConnect(stream, { host: target.ip, port: target.port }), stream };
}

describe('cascade: curl → connect → s1 → s2 → s3 → origin', () => {
  let origin: Origin;
  let udpEcho: UdpEcho;
  let microsocks: ChildProcess | undefined;
  let microsocksLog = '';
  const servers: RunningProcess[] = [];
  let client: RunningProcess;
  let s1Port: number;
  let proxyPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    udpEcho = await startUdpEcho();
    const torArgs: string[] = [];
    if (hasMicrosocks) {
      // s3 is the only hop with a "Tor" port, to check that SM-ONION travels along the chain.
      const socksPort = await freePort();
      microsocks = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(socksPort)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const collect = (chunk: Buffer) => {
        microsocksLog += chunk.toString();
      };
      microsocks.stdout?.on('data', collect);
      microsocks.stderr?.on('data', collect);
      torArgs.push('--tor-socks', `127.0.0.1:${socksPort}`);
    }
    // The last link is gRPC, the others WebSocket: any tunnel URL can be the next hop.
    const s3 = server(TOKENS.s3, ['-t', 'grpc', '--allow-private', ...torArgs]);
    servers.push(s3);
    const s3Port = await waitForListening(s3);
    // s2 is configured by flags, s1 by the environment the container would get.
    const s2 = server(TOKENS.s2, ['--cascade', `grpc://127.0.0.1:${s3Port}`, '--cascade-token', TOKENS.s3]);
    servers.push(s2);
    const s2Port = await waitForListening(s2);
    const s1 = server(TOKENS.s1, [], {
      SM_CASCADE_ADDR: `ws://127.0.0.1:${s2Port}`,
      SM_CASCADE_TOKEN: TOKENS.s2,
    });
    servers.push(s1);
    s1Port = await waitForListening(s1);
    ({ process: client, port: proxyPort } = await startConnect(`ws://127.0.0.1:${s1Port}`, TOKENS.s1));
  });

  after(async () => {
    await client?.stop();
    for (const s of servers.reverse()) await s.stop();
    if (microsocks && microsocks.exitCode === null) {
      const exited = new Promise((resolve) => microsocks?.once('exit', resolve));
      microsocks.kill('SIGTERM');
      await exited;
    }
    await Promise.all([origin?.close(), udpEcho?.close()]);
  });

  test('HTTP and SOCKS5 through the chain reach a loopback origin only the last hop may reach', async () => {
    const viaSocks = await curlThrough(
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    );
    assert.equal(viaSocks.toString(), 'hello from origin');
    const viaHttp = await curlThrough(
      `http://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/host`,
    );
    assert.equal(viaHttp.toString(), `127.0.0.1:${origin.port}`);
  });

  test('an 8 MiB download arrives intact across three hops', async () => {
    const size = 8 * 1024 * 1024;
    const body = await curlThrough(
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/bytes?n=${size}&seed=7`,
    );
    assert.equal(body.length, size);
    assert.equal(sha256(body), sha256(patternBytes(size, 7)));
  });

  test('UDP ASSOCIATE echo through the chain', async () => {
    assert.equal(
      await udpEchoThroughSocks(proxyPort, udpEcho.port, 'through-three-hops'),
      'echo:through-three-hops',
    );
  });

  test('a wrong token for the first hop is refused there', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${s1Port}/socks5`, {
      headers: { authorization: `Bearer ${TOKENS.s2}` },
    });
    const status = await new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('open', () => resolve(101));
      socket.once('error', () => resolve(-1));
    });
    socket.terminate();
    assert.equal(status, 401);
  });

  test('SM-ONION travels down the chain to the hop that runs Tor', { skip: !hasMicrosocks }, async () => {
    const { reply, stream } = await socksReply(
      s1Port,
      TOKENS.s1,
      { ip: '127.0.0.1', port: origin.port },
      true,
    );
    assert.equal(reply, 0);
    stream.write('GET /hello HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
    stream.resume();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.match(Buffer.concat(chunks).toString(), /hello from origin/);
    assert.match(microsocksLog, new RegExp(`connected to 127\\.0\\.0\\.1:${origin.port}`));
  });
});

describe('cascade: the last hop’s egress guard decides', () => {
  const servers: RunningProcess[] = [];
  let origin: Origin;
  let firstPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    const last = server('last-hop', []);
    servers.push(last);
    const lastPort = await waitForListening(last);
    // The first hop would allow private targets itself, but it only forwards.
    const first = server('first-hop', [
      '--allow-private',
      '--cascade',
      `http://127.0.0.1:${lastPort}`,
      '--cascade-token',
      'last-hop',
    ]);
    servers.push(first);
    firstPort = await waitForListening(first);
  });

  after(async () => {
    for (const s of servers.reverse()) await s.stop();
    await origin?.close();
  });

  test('a loopback target is refused with SOCKS 0x02 by the last hop', async () => {
    const { reply, stream } = await socksReply(firstPort, 'first-hop', {
      ip: '127.0.0.1',
      port: origin.port,
    });
    stream.destroy();
    assert.equal(reply, 0x02);
  });
});
