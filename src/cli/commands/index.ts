import type { Command } from 'commander';
import { defineClient } from './client.js';
import { defineConnect } from './connect.js';
import { defineServer } from './server.js';

/** One line per command; each `define*` only declares options and lazily imports its runner. */
export function defineCommands(program: Command): void {
  defineServer(program);
  defineConnect(program);
  defineClient(program);
}
