/**
 * Time to first byte of a new proxied request over a path with RTT = 50 ms (bench/delay-relay.ts
 * between client and server, since this machine has no `tc netem`), each sample a fresh `curl`
 * through SOCKS5 and through HTTP CONNECT, for:
 *   - original style: `seamoon connect --compat` (a fresh WebSocket per connection, SOCKS5 across it)
 *   - fast path:      `seamoon connect` (mux + warm pool, optimistic local CONNECT)
 *   - v2ray VLESS/ws: Debian v2ray as client and server (skipped when v2ray is missing)
 * then the throughput of 8 parallel downloads over one mux connection vs 8 separate WebSockets.
 * Everything runs on 127.0.0.1; seamoon runs from source as real processes.
 *
 *   node --import tsx bench/latency.bench.ts [samples]
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { createTunnel } from '../src/client/tunnel/registry.js';
import type { Tunnel } from '../src/client/tunnel/types.js';
import { curl } from '../test/helpers/curl.js';
import { type Origin, startHttpOrigin } from '../test/helpers/origin.js';
import { type RunningProcess, startSeamoon, waitForListening } from '../test/helpers/processes.js';
import {
  clientOutbound,
  freePort,
  type RunningV2ray,
  socksInbound,
  startV2ray,
  startV2rayServer,
  v2rayAvailable,
} from '../test/helpers/v2ray.js';
import { type DelayRelay, startDelayRelay } from './delay-relay.js';

const RTT_MS = 50;
const TOKEN = 'latency-bench-token';
const SAMPLES = Number(process.argv[2] ?? 21);
const THROUGHPUT_STREAMS = 8;
const THROUGHPUT_MIB = 16;

interface Proxies {
  socks: string;
  connect: string;
}

interface Row {
  path: string;
  proxy: string;
  medianMs: number;
  p95Ms: number;
  tcpConnections: number;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

/** One fresh curl; returns time_starttransfer in ms. */
async function ttfb(proxyArgs: string[], originPort: number): Promise<number> {
  const result = await curl([
    '-o',
    '/dev/null',
    '-w',
    '%{time_starttransfer}',
    ...proxyArgs,
    `http://127.0.0.1:${originPort}/hello`,
  ]);
  if (result.exitCode !== 0) throw new Error(`curl failed (${result.exitCode}): ${result.stderr}`);
  return Number(result.stdout.toString()) * 1000;
}

async function measure(path: string, proxies: Proxies, origin: Origin, relay: DelayRelay): Promise<Row[]> {
  const rows: Row[] = [];
  const kinds: Array<[string, string[]]> = [
    ['SOCKS5', ['-x', proxies.socks]],
    ['HTTP CONNECT', ['--proxytunnel', '-x', proxies.connect]],
  ];
  for (const [proxy, args] of kinds) {
    await ttfb(args, origin.port); // warm-up: not counted
    const before = relay.connections();
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) samples.push(await ttfb(args, origin.port));
    samples.sort((a, b) => a - b);
    rows.push({
      path,
      proxy,
      medianMs: percentile(samples, 50),
      p95Ms: percentile(samples, 95),
      tcpConnections: relay.connections() - before,
    });
  }
  return rows;
}

/** `seamoon connect` with a SOCKS5 and an HTTP listener; resolves with both proxy URLs. */
async function startConnect(
  tunnelPort: number,
  extra: string[],
): Promise<{ process: RunningProcess } & Proxies> {
  const process = startSeamoon(
    [
      'connect',
      '--tunnel',
      `ws://127.0.0.1:${tunnelPort}`,
      '--token',
      TOKEN,
      '--listen',
      'socks5://127.0.0.1:0',
      '--listen',
      'http://127.0.0.1:0',
      '--log-level',
      'warn',
      ...extra,
    ],
    { SEAMOON_LOG_LEVEL: 'warn' },
  );
  await process.waitFor(/listening on [^\n]*\(http\)/);
  const port = (scheme: string) =>
    Number(new RegExp(`listening on 127\\.0\\.0\\.1:(\\d+) \\(${scheme}\\)`).exec(process.output())?.[1]);
  return {
    process,
    socks: `socks5h://127.0.0.1:${port('socks5')}`,
    connect: `http://127.0.0.1:${port('http')}`,
  };
}

/** v2ray client with SOCKS and HTTP inbounds, VLESS/ws out to `serverPort`. */
async function startV2rayClient(uuid: string, serverPort: number): Promise<RunningV2ray & Proxies> {
  const socksPort = await freePort();
  const httpPort = await freePort();
  const running = await startV2ray({
    inbounds: [
      socksInbound(socksPort),
      { listen: '127.0.0.1', port: httpPort, protocol: 'http', settings: {} },
    ],
    outbounds: [clientOutbound({ protocol: 'vless', uuid }, serverPort, '/vless')],
  });
  return { ...running, socks: `socks5h://127.0.0.1:${socksPort}`, connect: `http://127.0.0.1:${httpPort}` };
}

function download(stream: Duplex, bytes: number, originPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    stream.once('end', () => resolve(received));
    stream.once('error', reject);
    stream.write(`GET /bytes?n=${bytes}&seed=5 HTTP/1.0\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
  });
}

/** MiB/s of THROUGHPUT_STREAMS parallel downloads, best of 2 rounds. */
async function throughput(tunnel: Tunnel, originPort: number): Promise<number> {
  const bytes = THROUGHPUT_MIB * 1024 * 1024;
  let best = 0;
  for (let round = 0; round < 2; round++) {
    const started = performance.now();
    const totals = await Promise.all(
      Array.from({ length: THROUGHPUT_STREAMS }, async () =>
        download(await tunnel.dial({ host: '127.0.0.1', port: originPort }), bytes, originPort),
      ),
    );
    const mib = totals.reduce((a, b) => a + b, 0) / 1024 / 1024;
    best = Math.max(best, mib / ((performance.now() - started) / 1000));
  }
  return best;
}

function printRows(rows: Row[]): void {
  console.log(
    `\n| path | proxy | median TTFB | p95 TTFB | median / RTT | new TCP connections per ${SAMPLES} requests |`,
  );
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.path} | ${row.proxy} | ${row.medianMs.toFixed(1)} ms | ${row.p95Ms.toFixed(1)} ms | ` +
        `${(row.medianMs / RTT_MS).toFixed(2)} | ${row.tcpConnections} |`,
    );
  }
}

async function main(): Promise<void> {
  const origin = await startHttpOrigin();
  const processes: RunningProcess[] = [];
  const relays: DelayRelay[] = [];
  const v2rays: RunningV2ray[] = [];
  const tunnels: Tunnel[] = [];
  try {
    const server = startSeamoon(
      ['server', '-a', '127.0.0.1', '-p', '0', '--token', TOKEN, '--allow-private'],
      { SEAMOON_LOG_LEVEL: 'warn' },
    );
    processes.push(server);
    const serverPort = await waitForListening(server);
    const seamoonRelay = await startDelayRelay({ upstreamPort: serverPort, rttMs: RTT_MS });
    relays.push(seamoonRelay);

    console.log(
      `Time to first byte over RTT = ${RTT_MS} ms, ${SAMPLES} fresh curls per row (loopback + delay relay)`,
    );
    const rows: Row[] = [];

    const compat = await startConnect(seamoonRelay.port, ['--compat']);
    processes.push(compat.process);
    rows.push(
      ...(await measure('original style (--compat: WebSocket per connection)', compat, origin, seamoonRelay)),
    );
    await compat.process.stop();

    const fast = await startConnect(seamoonRelay.port, ['--warm', '2']);
    processes.push(fast.process);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let the warm pool open
    rows.push(...(await measure('fast path (mux + warm pool)', fast, origin, seamoonRelay)));
    await fast.process.stop();

    if (v2rayAvailable()) {
      const uuid = randomUUID();
      const v2rayServer = await startV2rayServer({ protocol: 'vless', uuid }, '/vless');
      v2rays.push(v2rayServer);
      const v2rayRelay = await startDelayRelay({ upstreamPort: v2rayServer.port, rttMs: RTT_MS });
      relays.push(v2rayRelay);
      const v2rayClient = await startV2rayClient(uuid, v2rayRelay.port);
      v2rays.push(v2rayClient);
      rows.push(...(await measure('v2ray 4.34 VLESS over ws', v2rayClient, origin, v2rayRelay)));
    } else {
      console.log('(v2ray not installed: VLESS/ws row skipped)');
    }
    printRows(rows);

    console.log(
      `\nThroughput, ${THROUGHPUT_STREAMS} parallel downloads of ${THROUGHPUT_MIB} MiB (MiB/s, best of 2)`,
    );
    console.log('| path | one mux connection | separate WebSockets |');
    console.log('|---|---|---|');
    for (const [label, port] of [
      ['loopback', serverPort],
      [`RTT ${RTT_MS} ms`, seamoonRelay.port],
    ] as const) {
      const mux = await createTunnel(`ws://127.0.0.1:${port}`, { token: TOKEN, warm: 1 });
      const separate = await createTunnel(`ws://127.0.0.1:${port}`, { token: TOKEN, compat: true });
      tunnels.push(mux, separate);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const muxRate = await throughput(mux, origin.port);
      const separateRate = await throughput(separate, origin.port);
      console.log(`| ${label} | ${muxRate.toFixed(1)} | ${separateRate.toFixed(1)} |`);
    }
  } finally {
    for (const tunnel of tunnels) await tunnel.close();
    for (const v2ray of v2rays) await v2ray.stop();
    for (const p of processes) await p.stop();
    for (const relay of relays) await relay.close();
    await origin.close();
  }
}

await main();
