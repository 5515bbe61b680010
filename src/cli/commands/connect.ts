import type { Command } from 'commander';

/** Repeatable options: no default, so `--help` stays quiet about empty lists. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface ConnectFlags {
  tunnel?: string[];
  token?: string;
  listen?: string[];
  stats?: string;
  insecure?: boolean;
  ca?: string[];
  compat?: boolean;
  exactErrors?: boolean;
  logLevel?: string;
  tunnelsFile?: string;
  strategy?: string;
  rotation?: string;
  warm?: string;
  maxFails?: string;
  failTimeout?: string;
  healthInterval?: string;
  stickyTtl?: string;
}

/** A number option ≥ `min`, or a usage error naming the flag. */
function numberFlag(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) usageError(`${name} needs a number ≥ ${min}, got "${text}"`);
  return value;
}

/** `--tunnels-file`: one tunnel URL per line; blank lines and `#` comments are skipped. */
function tunnelsFromFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '');
}

const EXAMPLES = `
Examples:
  seamoon connect --tunnel ws://127.0.0.1:9000 --token "$SM_TOKEN"
      mixed SOCKS5/HTTP proxy on 127.0.0.1:1080; then: curl -x socks5h://127.0.0.1:1080 https://example.com
  seamoon connect --tunnel wss://edge.example.com/prefix --listen socks5://me:secret@127.0.0.1:1080 \\
                  --listen http://127.0.0.1:8080 --stats 10
      two listeners (one with a local username/password), stats every 10 s (or on SIGUSR1)
  seamoon connect --tunnels-file tunnels.txt --strategy sticky --stats 30
      a pool of tunnels (one URL per line): each site keeps its egress IP; dead tunnels are skipped

The token may also be given as SM_TOKEN or as ?token=… in the tunnel URL (it is never logged).`;

/** Bad command-line input: one line on stderr, exit status 2. */
function usageError(message: string): never {
  process.stderr.write(`seamoon connect: ${message}\n`);
  process.exit(2);
}

export function defineConnect(program: Command): void {
  program
    .command('connect')
    .description('run local HTTP/SOCKS5 proxies that carry connections through a seamoon tunnel')
    .option(
      '--tunnel <url>',
      'tunnel server: ws[s]://host[:port][/prefix], or a vless://, vmess:// or ss:// share link (repeatable; several will form a pool)',
      collect,
    )
    .option('--token <token>', 'bearer token of the tunnel server (default: $SM_TOKEN)')
    .option(
      '--listen <url>',
      'local proxy: mixed|socks5|http://[user:pass@]host:port (repeatable; default mixed://127.0.0.1:1080; port 0 = any)',
      collect,
    )
    .option(
      '--stats <seconds>',
      'print per-listener and per-tunnel counters every N seconds (always on SIGUSR1)',
    )
    .option('--insecure', 'do not verify the tunnel server TLS certificate')
    .option('--ca <file>', 'extra CA certificate (PEM) to trust for wss:// (repeatable)', collect)
    .option('--tunnels-file <file>', 'more tunnel URLs, one per line (# comments allowed)')
    .option('--strategy <name>', 'pool strategy: round-robin|random|sticky|least-latency', 'round-robin')
    .option('--rotation <mode>', 'pool rotation: connection (per app connection) | request', 'connection')
    .option('--warm <n>', 'fast path: multiplexed connections kept open per tunnel', '2')
    .option('--max-fails <n>', 'pool: dial failures before a tunnel leaves the rotation', '1')
    .option('--fail-timeout <seconds>', 'pool: how long a failing tunnel stays out', '10')
    .option('--health-interval <seconds>', 'pool: health check period (0 = off)', '30')
    .option('--sticky-ttl <seconds>', 'pool: how long a site keeps its tunnel with --strategy sticky', '600')
    .option(
      '--compat',
      'use the original per-connection routes (/socks5, /socks5-udp) instead of the multiplexed fast path',
    )
    .option(
      '--exact-errors',
      'fast path: answer SOCKS5/CONNECT only once the server reached the target, so apps get exact refusal codes (one more round trip)',
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .addHelpText('after', EXAMPLES)
    .action(async ({ tunnel = [], listen: listenFlags = [], ca: caFiles = [], ...flags }: ConnectFlags) => {
      const { readFileSync } = await import('node:fs');
      const { DEFAULT_LISTEN, parseListenSpec } = await import('../../client/listen-spec.js');
      const { SeamoonError } = await import('../../core/errors.js');

      if (flags.tunnelsFile !== undefined) {
        try {
          tunnel.push(...tunnelsFromFile(readFileSync(flags.tunnelsFile, 'utf8')));
        } catch (err) {
          usageError(`cannot read --tunnels-file ${flags.tunnelsFile}: ${(err as Error).message}`);
        }
      }
      if (tunnel.length === 0) usageError('--tunnel <url> is required (e.g. --tunnel ws://127.0.0.1:9000)');
      const strategies = ['round-robin', 'random', 'sticky', 'least-latency'];
      if (flags.strategy !== undefined && !strategies.includes(flags.strategy)) {
        usageError(`--strategy must be one of ${strategies.join(', ')}`);
      }
      if (flags.rotation !== undefined && flags.rotation !== 'connection' && flags.rotation !== 'request') {
        usageError('--rotation must be connection or request');
      }
      const rotation = flags.rotation as 'connection' | 'request' | undefined;
      const warm = numberFlag('--warm', flags.warm, 1);
      const maxFails = numberFlag('--max-fails', flags.maxFails, 1);
      const failTimeoutSec = numberFlag('--fail-timeout', flags.failTimeout, 0);
      const healthIntervalSec = numberFlag('--health-interval', flags.healthInterval, 0);
      const stickyTtlSec = numberFlag('--sticky-ttl', flags.stickyTtl, 0);
      let listen: ReturnType<typeof parseListenSpec>[];
      try {
        listen = (listenFlags.length > 0 ? listenFlags : [DEFAULT_LISTEN]).map(parseListenSpec);
      } catch (err) {
        usageError((err as Error).message);
      }
      let statsIntervalSec: number | undefined;
      if (flags.stats !== undefined) {
        statsIntervalSec = Number(flags.stats);
        if (!Number.isFinite(statsIntervalSec) || statsIntervalSec <= 0) {
          usageError(`--stats needs a positive number of seconds, got "${flags.stats}"`);
        }
      }
      const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
      if (flags.logLevel && !levels.includes(flags.logLevel)) {
        usageError(`--log-level must be one of ${levels.join(', ')}`);
      }
      const ca: Buffer[] = [];
      for (const file of caFiles) {
        try {
          ca.push(readFileSync(file));
        } catch (err) {
          usageError(`cannot read --ca ${file}: ${(err as Error).message}`);
        }
      }

      const { runConnect } = await import('../../client/connect.js');
      try {
        await runConnect({
          tunnels: tunnel,
          token: flags.token ?? process.env.SM_TOKEN,
          listen,
          statsIntervalSec,
          insecure: flags.insecure,
          ca,
          compat: flags.compat,
          exactErrors: flags.exactErrors,
          logLevel: flags.logLevel,
          strategy: flags.strategy,
          rotation,
          warm,
          maxFails,
          failTimeoutMs: failTimeoutSec === undefined ? undefined : failTimeoutSec * 1000,
          healthIntervalMs: healthIntervalSec === undefined ? undefined : healthIntervalSec * 1000,
          stickyTtlMs: stickyTtlSec === undefined ? undefined : stickyTtlSec * 1000,
        });
      } catch (err) {
        if (err instanceof SeamoonError && err.code === 'BAD_ADDRESS') usageError(err.message);
        throw err;
      }
    });
}
