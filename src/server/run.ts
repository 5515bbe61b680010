import { formatTarget } from '../core/address.js';
import type { ServerOptions } from './config.js';
import { startServer } from './index.js';

/** Forced exit if a graceful close hangs (a peer that never answers the close handshake). */
const CLOSE_DEADLINE_MS = 5_000;

/** More unexpected errors than this within a minute means the process state is not to be trusted. */
const MAX_STRAY_ERRORS_PER_MINUTE = 20;

/**
 * A stray error from one connection (a socket error nobody listened for, a rejected promise a
 * route forgot) must not take every other tunnel down with the process. It is reported and the
 * server keeps serving; a burst of them still ends the process so the platform restarts it.
 */
function surviveStrayErrors(): void {
  let recent: number[] = [];
  const report = (kind: string) => (err: unknown) => {
    const now = Date.now();
    recent = [...recent.filter((t) => now - t < 60_000), now];
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`seamoon server: ${kind}: ${detail}\n`);
    if (recent.length > MAX_STRAY_ERRORS_PER_MINUTE) {
      process.stderr.write('seamoon server: too many unexpected errors, exiting\n');
      process.exit(1);
    }
  };
  process.on('uncaughtException', report('unexpected error'));
  process.on('unhandledRejection', report('unhandled rejection'));
}

/**
 * `seamoon server` as a process: start, tell the user how to connect (stdout), and close
 * gracefully on SIGINT/SIGTERM. A second signal exits at once.
 */
export async function runServer(options: ServerOptions): Promise<void> {
  if (options.noAuth) {
    process.stderr.write(
      '\n*** WARNING: --no-auth: this tunnel server accepts ANYONE who can reach it. ***\n' +
        '*** It will relay their traffic from this host. Use a token in production.    ***\n\n',
    );
  }
  const server = await startServer(options);
  surviveStrayErrors();
  if (server.tokenGenerated) {
    // Printed once, to stdout only (logs never carry it); the user copies it to the client.
    process.stdout.write(
      `token: ${server.token}  (generated for this run; set SM_TOKEN or --token to keep one fixed)\n`,
    );
  }
  const listening = formatTarget({ host: server.address.host, port: server.address.port });
  const scheme = options.tlsCertPath ? ', tls' : '';
  process.stdout.write(`seamoon server listening on ${listening} (${options.type}${scheme})\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`seamoon server: ${signal}, closing\n`);
    setTimeout(() => process.exit(1), CLOSE_DEADLINE_MS).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
