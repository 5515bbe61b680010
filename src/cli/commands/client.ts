import type { Command } from 'commander';

interface ClientFlags {
  listen?: string;
  host?: string;
  port?: string;
  data?: string;
  proxyPort?: string;
  allowPrivate?: boolean;
  logLevel?: string;
}

const EXAMPLES = `
Examples:
  seamoon client
      console on http://127.0.0.1:7777; on first run also a local tunnel and a mixed proxy on
      127.0.0.1:1080, so at once: curl -x socks5h://127.0.0.1:1080 https://example.com
  seamoon client --listen 0.0.0.0:7777 --data /data
      console reachable from other machines (Docker), state in /data

The first run prints a one-time admin password (user "seamoon"), or uses $SEAMOON_ADMIN_PASSWORD.`;

function usageError(message: string): never {
  process.stderr.write(`seamoon client: ${message}\n`);
  process.exit(2);
}

function parsePort(value: string, flag: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    usageError(`${flag} must be a port number (0-65535)`);
  return Number(value);
}

/** `--listen host:port` (IPv6 in brackets) overrides --host/--port. */
function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  if (!match) usageError(`--listen must look like 127.0.0.1:7777, got "${value}"`);
  return { host: match[1] ?? match[2], port: parsePort(match[3], '--listen') };
}

async function runClient(flags: ClientFlags): Promise<void> {
  const { startConsole } = await import('../../control/console.js');
  const { defaultDataDir } = await import('../../control/paths.js');
  // Absent flags fall back to the stored control_addr/control_port (127.0.0.1:7777 by default).
  let host = flags.host;
  let port = flags.port === undefined ? undefined : parsePort(flags.port, '--port');
  if (flags.listen) ({ host, port } = parseListen(flags.listen));
  const running = await startConsole({
    dataDir: flags.data ?? defaultDataDir(),
    host,
    port,
    proxyPort: parsePort(flags.proxyPort ?? '1080', '--proxy-port'),
    allowPrivate: flags.allowPrivate ?? false,
    adminPassword: process.env.SEAMOON_ADMIN_PASSWORD,
    logLevel: flags.logLevel,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`seamoon client: ${signal}, stopping\n`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function withOptions(command: Command): Command {
  return command
    .option('--listen <host:port>', 'console address (default 127.0.0.1:7777)')
    .option('--host <host>', 'console listen address (default: the control_addr setting, 127.0.0.1)')
    .option('--port <port>', 'console port, 0 = any free port (default: the control_port setting, 7777)')
    .option('--data <dir>', 'data directory (default $XDG_DATA_HOME/seamoon or ~/.local/share/seamoon)')
    .option('--proxy-port <port>', 'port of the mixed proxy created on first run (0 = any)', '1080')
    .option('--allow-private', 'let the local tunnel server reach loopback/private targets (testing only)')
    .option(
      '--log-level <level>',
      'fatal|error|warn|info|debug|trace|silent (log file in the data dir)',
      'info',
    )
    .addHelpText('after', EXAMPLES);
}

/**
 * `seamoon client` (also `client web`, `client proxy` and `proxy`, the original's and the
 * seed's spellings): the console with its REST API, local proxies and tunnel lifecycle.
 */
export function defineClient(program: Command): void {
  withOptions(
    program
      .command('client')
      .description('run the console (REST API + web page on 127.0.0.1:7777) and its local proxies')
      .argument('[mode]', '"web" or "proxy" (accepted for compatibility; both run the console)'),
  ).action(async (mode: string | undefined, flags: ClientFlags) => {
    if (mode !== undefined && mode !== 'web' && mode !== 'proxy')
      usageError(`unknown mode "${mode}" (use web or proxy)`);
    await runClient(flags);
  });
  withOptions(program.command('proxy').description('same as `seamoon client`')).action(
    async (flags: ClientFlags) => {
      await runClient(flags);
    },
  );
}
