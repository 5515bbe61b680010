import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * Per-user data directory: `$XDG_DATA_HOME/seamoon`, else `~/.local/share/seamoon`
 * (the original wrote `.seamoon.db` into whatever directory it was started from).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'seamoon');
}

/** A file setting (like `control_log`) relative to the data dir unless absolute. */
export function inDataDir(dataDir: string, file: string): string {
  return isAbsolute(file) ? file : resolve(dataDir, file);
}
