#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../core/version.js';
import { defineCommands } from './commands/index.js';

/**
 * Entry point. Each command file only declares its options here; the code behind a command is
 * imported when the command runs, so `seamoon server` never loads the console's dependencies.
 */
const program = new Command('seamoon')
  .description(
    'SeaMoon: tunnel server, local HTTP/SOCKS5 proxies and a console for rotating cloud egress IPs',
  )
  .version(VERSION, '-v, --version')
  .showHelpAfterError('(run with --help for usage)');

defineCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`seamoon: ${message}\n`);
  process.exit(1);
});
