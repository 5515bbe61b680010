/**
 * v2ray client → **our** server vs v2ray client → **v2ray** server, per protocol, same run.
 * Each case: a real v2ray 4.34 with a SOCKS inbound and the protocol's WebSocket outbound, curl
 * through it downloading DOWNLOAD_MIB from a local origin (a preallocated buffer, so the origin
 * costs nothing). Best of ROUNDS; the ratio ours/v2ray is what to read (the machine is shared).
 * A third column runs **our** client (`seamoon connect --tunnel <share link>`) against the same
 * v2ray server. Prints the seamoon server's RSS after the runs. 127.0.0.1 only.
 *
 *   node --import tsx bench/v2ray-protocols.bench.ts
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatShareLink, type ShareLink, type TransportSettings } from '../src/client/share-links.js';
import { curl } from '../test/helpers/curl.js';
import { startSeamoon, waitForListening } from '../test/helpers/processes.js';
import {
  startV2rayClient,
  startV2rayServer,
  type V2rayProtocol,
  v2rayAvailable,
} from '../test/helpers/v2ray.js';

const DOWNLOAD_MIB = Number(process.env.BENCH_MIB ?? 256);
const ROUNDS = 3;
const UUID = '3e5c7a9b-1d2f-4a6b-8c0d-e1f2a3b4c5d6';
const SS_PASSWORD = 'bench-ss-password';
const BENCH_WS: TransportSettings = { network: 'ws', path: '/bench', tls: false };

function vmessLink(port: number, security: string): ShareLink {
  return {
    protocol: 'vmess',
    uuid: UUID,
    security,
    alterId: 0,
    address: '127.0.0.1',
    port,
    transport: BENCH_WS,
  };
}

const cases: { name: string; protocol: V2rayProtocol; ourPath: string; link: (port: number) => ShareLink }[] =
  [
    {
      name: 'VLESS/ws',
      protocol: { protocol: 'vless', uuid: UUID },
      ourPath: '/vless',
      link: (port) => ({ protocol: 'vless', uuid: UUID, address: '127.0.0.1', port, transport: BENCH_WS }),
    },
    {
      name: 'VMess/ws aes-128-gcm',
      protocol: { protocol: 'vmess', uuid: UUID, security: 'aes-128-gcm' },
      ourPath: '/vmess',
      link: (port) => vmessLink(port, 'aes-128-gcm'),
    },
    {
      name: 'VMess/ws chacha20-poly1305',
      protocol: { protocol: 'vmess', uuid: UUID, security: 'chacha20-poly1305' },
      ourPath: '/vmess',
      link: (port) => vmessLink(port, 'chacha20-poly1305'),
    },
    {
      name: 'SS/ws aes-256-gcm',
      protocol: { protocol: 'shadowsocks', method: 'aes-256-gcm', password: SS_PASSWORD },
      ourPath: '/v-shadowsocks',
      link: (port) => ({
        protocol: 'ss',
        method: 'aes-256-gcm',
        password: SS_PASSWORD,
        address: '127.0.0.1',
        port,
        transport: BENCH_WS,
      }),
    },
  ];

/** An origin that streams the same 1 MiB block `n` times: no per-request generation cost. */
async function startBlockOrigin() {
  const block = randomBytes(1024 * 1024);
  const server = createServer((req, res) => {
    const blocks = Number(new URL(req.url ?? '/', 'http://o').searchParams.get('mib') ?? '1');
    res.setHeader('content-length', String(blocks * block.length));
    let sent = 0;
    const pump = () => {
      while (sent < blocks) {
        sent += 1;
        if (!res.write(block)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Best download rate in MiB/s through a SOCKS port. */
async function bestRate(socksPort: number, originPort: number): Promise<number> {
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const result = await curl(
      [
        '--socks5-hostname',
        `127.0.0.1:${socksPort}`,
        '-o',
        '/dev/null',
        '-w',
        '%{speed_download}',
        `http://127.0.0.1:${originPort}/?mib=${DOWNLOAD_MIB}`,
      ],
      120_000,
    );
    if (result.exitCode !== 0) throw new Error(`curl failed: ${result.stderr}`);
    best = Math.max(best, Number(result.stdout.toString()) / (1024 * 1024));
  }
  return best;
}

function mibps(rate: number): string {
  return `${rate.toFixed(0).padStart(4)} MiB/s`;
}

function rssMiB(pid: number | undefined): string {
  if (pid === undefined) return '?';
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return match ? (Number(match[1]) / 1024).toFixed(0) : '?';
}

async function main(): Promise<void> {
  if (!v2rayAvailable()) {
    console.log('v2ray is not installed (apt-get install v2ray): skipped');
    return;
  }
  const origin = await startBlockOrigin();
  const ours = startSeamoon(
    ['server', '-a', '127.0.0.1', '-p', '0', '--allow-private', '--uid', UUID, '--ss-pass', SS_PASSWORD],
    { SEAMOON_LOG_LEVEL: 'warn' },
  );
  try {
    const ourPort = await waitForListening(ours);
    console.log(`v2ray-family protocols over ws, ${DOWNLOAD_MIB} MiB per download, best of ${ROUNDS}`);
    for (const c of cases) {
      const toOurs = await startV2rayClient(c.protocol, ourPort, c.ourPath);
      const v2rayServer = await startV2rayServer(c.protocol, '/bench');
      const toV2ray = await startV2rayClient(c.protocol, v2rayServer.port, '/bench');
      const ourClient = startSeamoon(
        [
          'connect',
          '--tunnel',
          formatShareLink(c.link(v2rayServer.port)),
          '--listen',
          'socks5://127.0.0.1:0',
        ],
        { SEAMOON_LOG_LEVEL: 'warn' },
      );
      try {
        const ourClientPort = await waitForListening(ourClient);
        const ourRate = await bestRate(toOurs.socksPort, origin.port);
        const theirRate = await bestRate(toV2ray.socksPort, origin.port);
        const ourClientRate = await bestRate(ourClientPort, origin.port);
        console.log(
          `  ${c.name.padEnd(27)} v2ray→seamoon ${mibps(ourRate)}  v2ray→v2ray ${mibps(theirRate)}  ` +
            `ratio ${(ourRate / theirRate).toFixed(2)}x   seamoon→v2ray ${mibps(ourClientRate)}  ` +
            `ratio ${(ourClientRate / theirRate).toFixed(2)}x`,
        );
      } finally {
        await Promise.all([ourClient.stop(), toOurs.stop(), toV2ray.stop(), v2rayServer.stop()]);
      }
    }
    console.log(`  seamoon server RSS after the runs: ${rssMiB(ours.proc.pid)} MiB`);
  } finally {
    await ours.stop();
    await origin.close();
  }
}

await main();
