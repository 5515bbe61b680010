/**
 * Download throughput through a local tunnel, side by side in one run:
 *   direct (curl → origin), seamoon (curl → `seamoon connect` → ws → `seamoon server` → origin,
 *   with the default multiplexed fast path and with `--compat` per-connection streams), and
 *   Debian's v2ray 4.34 with VLESS over ws (v2ray client → v2ray server).
 * Also: seamoon server RSS at idle and after the runs, and spawn → `listening on` time.
 * Everything runs on 127.0.0.1 from the compiled CLI (`dist/`), as users run it.
 *
 * Sizes scale with BENCH_MIB (single-stream MiB, default 128; the parallel case moves
 * 8 × BENCH_MIB/4); each figure is the best of BENCH_ROUNDS (default 3) rounds, interleaved
 * across the paths. Run with `npm run bench -- throughput`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientOutbound, serverInbound, socksInbound } from '../test/helpers/v2ray.js';
import { type BenchProcess, freePort, launch, median, memoryOf, run } from './lib/process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'seamoon.js');
const SINGLE_MIB = Number(process.env.BENCH_MIB ?? '128');
/** The machine is shared: each figure is the best of this many rounds. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const PARALLEL = 8;
const PARALLEL_MIB = Math.max(1, Math.round(SINGLE_MIB / 4));
const STARTUP_RUNS = 5;
const TOKEN = randomBytes(18).toString('base64url');
const MB = 1e6;

// ------------------------------------------------------------------ origin

/** Serves `/blob?mib=N`: N MiB of incompressible bytes, written with backpressure. */
async function startBlobOrigin(): Promise<{ server: Server; port: number }> {
  const block = randomBytes(1024 * 1024);
  const server = createServer((req, res) => {
    const mib = Number(new URL(req.url ?? '/', 'http://origin').searchParams.get('mib') ?? '1');
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(mib * block.length),
    });
    let left = mib;
    const pump = () => {
      while (left > 0) {
        left -= 1;
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
  return { server, port: (server.address() as AddressInfo).port };
}

// ------------------------------------------------------------------ curl

async function curlDownload(url: string, socksPort?: number): Promise<{ bytes: number; seconds: number }> {
  const proxy = socksPort === undefined ? [] : ['--socks5-hostname', `127.0.0.1:${socksPort}`];
  const result = await run('curl', [
    '--silent',
    '--show-error',
    '--max-time',
    '120',
    '-o',
    '/dev/null',
    '-w',
    '%{size_download} %{time_total}',
    ...proxy,
    url,
  ]);
  if (result.code !== 0) throw new Error(`curl failed (${result.code}): ${result.stderr.trim()}`);
  const [bytes, seconds] = result.stdout.trim().split(' ').map(Number);
  return { bytes: bytes ?? 0, seconds: seconds ?? Number.NaN };
}

interface Throughput {
  single: number;
  parallel: number;
}

const expectedBytes = (mib: number) => mib * 1024 * 1024;

/** One round for one path: MB/s of one large download, and of 8 parallel ones (total bytes / wall time). */
async function measureRound(originPort: number, socksPort?: number): Promise<Throughput> {
  const one = await curlDownload(`http://127.0.0.1:${originPort}/blob?mib=${SINGLE_MIB}`, socksPort);
  if (one.bytes !== expectedBytes(SINGLE_MIB)) throw new Error(`short download: ${one.bytes} bytes`);
  const started = process.hrtime.bigint();
  const many = await Promise.all(
    Array.from({ length: PARALLEL }, () =>
      curlDownload(`http://127.0.0.1:${originPort}/blob?mib=${PARALLEL_MIB}`, socksPort),
    ),
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const total = many.reduce((sum, r) => sum + r.bytes, 0);
  if (total !== PARALLEL * expectedBytes(PARALLEL_MIB))
    throw new Error(`short parallel download: ${total} bytes`);
  return { single: one.bytes / one.seconds / MB, parallel: total / wall / MB };
}

interface Case {
  name: string;
  /** SOCKS5 port of the path's client; undefined = direct. */
  socksPort?: number;
  best: Throughput;
  failure?: string;
}

/**
 * Rounds go over every case in turn (not case after case), so a burst of load from other work
 * on the machine hits all paths alike and the ratios stay fair. Each figure is the best round.
 */
async function measureAll(originPort: number, cases: Case[]): Promise<void> {
  for (const c of cases) {
    // Warm-up: connection set-up and JIT do not count against the first round.
    await curlDownload(`http://127.0.0.1:${originPort}/blob?mib=8`, c.socksPort).catch((err: Error) => {
      c.failure = err.message.split('\n')[0];
    });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      if (c.failure) continue;
      try {
        const result = await measureRound(originPort, c.socksPort);
        c.best.single = Math.max(c.best.single, result.single);
        c.best.parallel = Math.max(c.best.parallel, result.parallel);
      } catch (err) {
        c.failure = (err as Error).message.split('\n')[0];
      }
    }
  }
}

// ------------------------------------------------------------------ seamoon

function seamoon(args: string[]): BenchProcess {
  return launch(process.execPath, [CLI, ...args], { SM_TOKEN: '' });
}

type Memory = ReturnType<typeof memoryOf>;

/** V8 flags deploy/entrypoint.sh gives the server in a container (64 MiB limit). */
const CONTAINER_NODE_FLAGS = (
  readFileSync(join(ROOT, 'deploy/entrypoint.sh'), 'utf8').match(
    /NODE_FLAGS="\$\{SEAMOON_NODE_FLAGS:-([^}]*)\}"/,
  )?.[1] ?? '--max-old-space-size=32 --max-semi-space-size=1'
)
  .split(/\s+/)
  .filter(Boolean);

async function startSeamoonServer(
  nodeFlags: string[] = [],
): Promise<{ proc: BenchProcess; port: number; startMs: number }> {
  const proc = launch(
    process.execPath,
    [...nodeFlags, CLI, 'server', '-a', '127.0.0.1', '-p', '0', '--token', TOKEN, '--allow-private'],
    { SM_TOKEN: '' },
  );
  const { match, elapsedMs } = await proc.waitFor(/listening on [^\s]+:(\d+)/);
  return { proc, port: Number(match[1]), startMs: elapsedMs };
}

async function startSeamoonClient(
  serverPort: number,
  extra: string[],
): Promise<{ proc: BenchProcess; port: number }> {
  const proc = seamoon([
    'connect',
    '--tunnel',
    `ws://127.0.0.1:${serverPort}`,
    '--token',
    TOKEN,
    '--listen',
    'socks5://127.0.0.1:0',
    '--log-level',
    'warn',
    ...extra,
  ]);
  const { match } = await proc.waitFor(/listening on [^\s]+:(\d+)/);
  return { proc, port: Number(match[1]) };
}

/** Median spawn → `listening on` time over a few cold starts of the compiled server. */
async function seamoonStartupMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const { proc, startMs } = await startSeamoonServer();
    times.push(startMs);
    await proc.stop();
  }
  return median(times);
}

// ------------------------------------------------------------------ v2ray

async function v2rayInstalled(): Promise<boolean> {
  try {
    return (await run('v2ray', ['-version'])).code === 0;
  } catch {
    return false;
  }
}

async function startV2ray(
  dir: string,
  name: string,
  config: object,
): Promise<{ proc: BenchProcess; startMs: number }> {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ log: { loglevel: 'warning' }, ...config }, null, 2));
  const proc = launch('v2ray', ['-config', path]);
  const { elapsedMs } = await proc.waitFor(/V2Ray [\d.]+ started/, 20_000);
  return { proc, startMs: elapsedMs };
}

// ------------------------------------------------------------------ report

function mbps(value: number): string {
  return value.toFixed(0);
}

function ratio(value: number, reference: number | undefined): string {
  return reference ? `${(value / reference).toFixed(2)}×` : 'n/a';
}

function mib(value: number): string {
  return value.toFixed(1);
}

function newCase(name: string, socksPort?: number): Case {
  return { name, socksPort, best: { single: 0, parallel: 0 } };
}

interface SeamoonServerUnderTest {
  label: string;
  pid: number;
  idle: Memory;
}

export async function main(): Promise<string> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  const origin = await startBlobOrigin();
  const started: BenchProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'seamoon-bench-'));
  const notes: string[] = [];
  try {
    // Start-up first, while nothing else of ours is running.
    const startupMs = await seamoonStartupMs();

    const cases: Case[] = [newCase('direct (no tunnel)')];
    const servers: SeamoonServerUnderTest[] = [];
    for (const [label, flags] of [
      ['', []],
      [' (server with container V8 flags)', CONTAINER_NODE_FLAGS],
    ] as const) {
      const server = await startSeamoonServer([...flags]);
      started.push(server.proc);
      // Let start-up garbage settle before reading the idle footprint.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const pid = server.proc.proc.pid!;
      servers.push({ label: flags.length > 0 ? flags.join(' ') : 'plain node', pid, idle: memoryOf(pid) });
      for (const [mode, extra] of [
        ['mux fast path', []],
        ['--compat, one ws per connection', ['--compat']],
      ] as const) {
        const client = await startSeamoonClient(server.port, [...extra]);
        started.push(client.proc);
        cases.push(newCase(`seamoon ${mode}${label}`, client.port));
      }
    }

    let v2rayCase: Case | undefined;
    let v2rayServerPid: number | undefined;
    let v2rayStartMs: number | undefined;
    if (await v2rayInstalled()) {
      const uuid = randomUUID();
      const serverPort = await freePort();
      const socksPort = await freePort();
      const vserver = await startV2ray(dir, 'server', {
        inbounds: [serverInbound({ protocol: 'vless', uuid }, serverPort, '/vless')],
        outbounds: [{ protocol: 'freedom' }],
      });
      started.push(vserver.proc);
      v2rayServerPid = vserver.proc.proc.pid;
      v2rayStartMs = vserver.startMs;
      const vclient = await startV2ray(dir, 'client', {
        inbounds: [socksInbound(socksPort)],
        outbounds: [clientOutbound({ protocol: 'vless', uuid }, serverPort, '/vless')],
      });
      started.push(vclient.proc);
      v2rayCase = newCase('v2ray 4.34 VLESS over ws', socksPort);
      cases.push(v2rayCase);
    } else {
      notes.push('v2ray is not installed: the v2ray row and the ratios are missing (apt-get install v2ray).');
    }

    await measureAll(origin.port, cases);
    const after = servers.map((server) => memoryOf(server.pid));
    const v2rayMemory = v2rayServerPid === undefined ? undefined : memoryOf(v2rayServerPid);
    const reference = v2rayCase && !v2rayCase.failure ? v2rayCase.best : undefined;
    for (const c of cases) if (c.failure) notes.push(`${c.name}: failed: ${c.failure}`);

    const memoryCell = (memory: Memory | undefined, pick: (m: Memory) => number) =>
      memory ? mib(pick(memory)) : 'n/a';
    const lines = [
      `### Throughput (${SINGLE_MIB} MiB single stream; ${PARALLEL} × ${PARALLEL_MIB} MiB parallel; best of ${ROUNDS} interleaved rounds; MB = 10^6 bytes)`,
      '',
      '| path | single MB/s | × v2ray | 8 parallel MB/s | × v2ray |',
      '|---|---:|---:|---:|---:|',
      ...cases
        .filter((c) => !c.failure)
        .map(
          ({ name, best }) =>
            `| ${name} | ${mbps(best.single)} | ${ratio(best.single, reference?.single)} | ${mbps(best.parallel)} | ${ratio(best.parallel, reference?.parallel)} |`,
        ),
      '',
      '### Server footprint',
      '',
      `| measure | ${servers.map((s) => `seamoon server (${s.label})`).join(' | ')} | v2ray server |`,
      `|---|${servers.map(() => '---:|').join('')}---:|`,
      `| RSS at idle (MiB) | ${servers.map((s) => mib(s.idle.rssMiB)).join(' | ')} | |`,
      `| RSS after the runs (MiB) | ${after.map((m) => mib(m.rssMiB)).join(' | ')} | ${memoryCell(v2rayMemory, (m) => m.rssMiB)} |`,
      `| peak RSS, VmHWM (MiB) | ${after.map((m) => mib(m.peakMiB)).join(' | ')} | ${memoryCell(v2rayMemory, (m) => m.peakMiB)} |`,
      `| spawn → listening (ms) | ${startupMs.toFixed(0)} (median of ${STARTUP_RUNS}) |${servers
        .slice(1)
        .map(() => ' |')
        .join('')} ${v2rayStartMs === undefined ? 'n/a' : `${v2rayStartMs.toFixed(0)} (one start)`} |`,
      '',
      `Machine: ${process.platform} ${process.arch}, Node ${process.version}; all processes share the same cores.`,
      ...notes.map((note) => `- ${note}`),
    ];
    return lines.join('\n');
  } finally {
    for (const proc of started.reverse()) await proc.stop();
    await new Promise<void>((resolve) => {
      origin.server.closeAllConnections();
      origin.server.close(() => resolve());
    });
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run directly (`node --import tsx bench/throughput.bench.ts`) or through bench/run.ts.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (table) => process.stdout.write(`${table}\n`),
    (err: unknown) => {
      process.stderr.write(`throughput bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
