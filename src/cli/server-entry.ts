#!/usr/bin/env node
import { Command } from 'commander';
import { COMMIT, VERSION } from '../core/version.js';
import { defineServer } from './commands/server.js';

/**
 * Entry point of the server bundle (`npm run build:server` → dist/seamoon-server.mjs): the same
 * `seamoon server` command as the full CLI, and nothing else, so the container image never carries
 * the console's code or dependencies.
 */
const program = new Command('seamoon')
  .description('SeaMoon tunnel server')
  .version(COMMIT ? `${VERSION} (${COMMIT})` : VERSION, '-v, --version')
  .showHelpAfterError('(run with --help for usage)');

defineServer(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`seamoon: ${message}\n`);
  process.exit(1);
});
