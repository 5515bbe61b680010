import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, ROOT, type RunResult, run } from '../helpers/processes.js';

/**
 * The container entrypoint, run here with its binaries swapped through environment variables:
 * the server bundle is a probe script that reports how it was started, and `tor` is a fake that
 * records its arguments and opens the SOCKS port a little later (as a daemonizing tor does).
 */
const ENTRYPOINT = join(ROOT, 'deploy/entrypoint.sh');
// Run it with a strict POSIX shell when there is one (Debian's dash), not bash.
const SHELL = existsSync('/bin/dash') ? '/bin/dash' : '/bin/sh';

function runEntrypoint(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run(SHELL, [ENTRYPOINT, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SEAMOON_NODE: process.execPath, ...env },
    timeoutMs: 30_000,
  });
}

interface ProbeReport {
  argv: string[];
  execArgv: string[];
  torSocks?: string;
  torPortOpen: boolean | null;
  malloc: [string | undefined, string | undefined];
}

describe('deploy/entrypoint.sh', () => {
  let dir: string;
  let probe: string;
  let fakeTor: string;
  let failingTor: string;
  const fakeTorPids: string[] = [];
  let healthServer: Server;
  let healthPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seamoon-entrypoint-'));
    probe = join(dir, 'probe.mjs');
    // Stands in for the server bundle: reports argv, V8 flags and whether Tor's port was open at start.
    writeFileSync(
      probe,
      `import { connect } from 'node:net';
const torSocks = process.env.SEAMOON_TOR_SOCKS;
const report = (torPortOpen) => {
  const malloc = [process.env.MALLOC_ARENA_MAX, process.env.MALLOC_MMAP_THRESHOLD_];
  console.log(JSON.stringify({ argv: process.argv.slice(2), execArgv: process.execArgv, torSocks, torPortOpen, malloc }));
};
if (!torSocks) report(null);
else {
  const i = torSocks.lastIndexOf(':');
  const socket = connect({ host: torSocks.slice(0, i), port: Number(torSocks.slice(i + 1)) });
  socket.once('connect', () => { socket.destroy(); report(true); });
  socket.once('error', () => report(false));
}
`,
    );
    fakeTor = join(dir, 'fake-tor.sh');
    // Records its arguments, then "daemonizes": a background listener opens the SOCKS port after 700 ms.
    writeFileSync(
      fakeTor,
      `#!/bin/sh
echo "$@" > "$FAKE_TOR_LOG"
socks=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--SocksPort" ]; then socks="$2"; fi
  shift
done
"$SEAMOON_NODE" -e '
  const [host, port] = process.argv[1].split(":");
  setTimeout(() => require("net").createServer((s) => s.destroy()).listen(Number(port), host), 700);
  setTimeout(() => process.exit(0), 20000);
' "$socks" >/dev/null 2>&1 &
echo $! > "$FAKE_TOR_PIDFILE"
exit 0
`,
    );
    chmodSync(fakeTor, 0o755);
    failingTor = join(dir, 'failing-tor.sh');
    writeFileSync(failingTor, '#!/bin/sh\necho "tor: cannot start" >&2\nexit 3\n');
    chmodSync(failingTor, 0o755);
    healthServer = createServer((req, res) => {
      res.statusCode = req.url === '/_health' ? 200 : 404;
      res.end('OK');
    });
    await new Promise<void>((resolve) => healthServer.listen(0, '127.0.0.1', resolve));
    healthPort = (healthServer.address() as AddressInfo).port;
  });

  after(async () => {
    for (const pid of fakeTorPids) {
      try {
        process.kill(Number(pid), 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    await new Promise<void>((resolve) => healthServer.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('without SEAMOON_TOR: no tor, arguments and memory flags reach the server', async () => {
    const torLog = join(dir, 'tor-off.log');
    const result = await runEntrypoint(['server', '-p', '9000', '-t', 'websocket'], {
      SEAMOON_BUNDLE: probe,
      SEAMOON_TOR_BIN: fakeTor,
      FAKE_TOR_LOG: torLog,
      FAKE_TOR_PIDFILE: join(dir, 'unused.pid'),
    });
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as ProbeReport;
    assert.deepEqual(report.argv, ['server', '-p', '9000', '-t', 'websocket']);
    assert.ok(
      report.execArgv.some((flag) => flag.startsWith('--max-old-space-size=')),
      String(report.execArgv),
    );
    assert.ok(
      report.execArgv.some((flag) => flag.startsWith('--max-semi-space-size=')),
      String(report.execArgv),
    );
    assert.equal(report.torSocks, undefined);
    assert.deepEqual(report.malloc, ['2', '65536'], 'glibc malloc tuning reaches the server');
    assert.equal(existsSync(torLog), false, 'tor must not be started');
  });

  test('with SEAMOON_TOR=true: tor starts first and the server starts once its port answers', async () => {
    const port = await freePort();
    const torLog = join(dir, 'tor-on.log');
    const pidFile = join(dir, 'tor-on.pid');
    const result = await runEntrypoint(['server', '-p', '9000'], {
      SEAMOON_TOR: 'true',
      SEAMOON_TOR_SOCKS: `127.0.0.1:${port}`,
      SEAMOON_TOR_DATA: join(dir, 'tor-data'),
      SEAMOON_BUNDLE: probe,
      SEAMOON_TOR_BIN: fakeTor,
      FAKE_TOR_LOG: torLog,
      FAKE_TOR_PIDFILE: pidFile,
    });
    if (existsSync(pidFile)) fakeTorPids.push(readFileSync(pidFile, 'utf8').trim());
    assert.equal(result.code, 0, result.stderr);
    const torArgs = readFileSync(torLog, 'utf8');
    assert.match(torArgs, new RegExp(`--SocksPort 127\\.0\\.0\\.1:${port}`));
    assert.match(torArgs, /--RunAsDaemon 1/);
    assert.match(torArgs, /--DataDirectory \S+tor-data/);
    const report = JSON.parse(result.stdout) as ProbeReport;
    assert.equal(report.torSocks, `127.0.0.1:${port}`, 'the server learns where Tor listens');
    assert.equal(report.torPortOpen, true, 'the server started only after Tor opened its port');
    assert.deepEqual(report.argv, ['server', '-p', '9000']);
    assert.match(result.stderr, /tor is accepting connections/);
  });

  test('a tor that fails to start stops the container with an error', async () => {
    const result = await runEntrypoint(['server'], {
      SEAMOON_TOR: 'true',
      SEAMOON_TOR_DATA: join(dir, 'tor-data-2'),
      SEAMOON_BUNDLE: probe,
      SEAMOON_TOR_BIN: failingTor,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /tor failed to start/);
    assert.equal(result.stdout, '', 'the server must not start');
  });

  test("the original image's `/app/seamoon server …` spelling is accepted", async () => {
    const result = await runEntrypoint(['/app/seamoon', 'server', '-p', '8089', '-t', 'grpc'], {
      SEAMOON_BUNDLE: probe,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((JSON.parse(result.stdout) as ProbeReport).argv, ['server', '-p', '8089', '-t', 'grpc']);
  });

  test('healthcheck probes /_health (http) or the port (tcp)', async () => {
    const closed = await freePort();
    const ok = await runEntrypoint(['healthcheck'], {
      SEAMOON_HEALTH_URL: `http://127.0.0.1:${healthPort}/_health`,
      SEAMOON_BUNDLE: probe,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, '', 'healthcheck must not start the server');
    const notFound = await runEntrypoint(['healthcheck'], {
      SEAMOON_HEALTH_URL: `http://127.0.0.1:${healthPort}/nope`,
    });
    assert.equal(notFound.code, 1);
    const down = await runEntrypoint(['healthcheck'], {
      SEAMOON_HEALTH_URL: `http://127.0.0.1:${closed}/_health`,
    });
    assert.equal(down.code, 1);
    const tcpOk = await runEntrypoint(['healthcheck'], {
      SEAMOON_HEALTH_URL: `tcp://127.0.0.1:${healthPort}`,
      SEAMOON_BUNDLE: probe,
    });
    assert.equal(tcpOk.code, 0, tcpOk.stderr);
    assert.equal(tcpOk.stdout, '');
    const tcpDown = await runEntrypoint(['healthcheck'], { SEAMOON_HEALTH_URL: `tcp://127.0.0.1:${closed}` });
    assert.notEqual(tcpDown.code, 0);
  });
});
