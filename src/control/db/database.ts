import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { SeamoonError } from '../../core/errors.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

export const DB_FILE = 'seamoon.db';

export interface OpenedDatabase {
  db: Kysely<Database>;
  /** The raw handle, for pragmas and the integrity check. */
  sqlite: BetterSqlite3.Database;
  /** True when this open created the file (first run). */
  created: boolean;
  close(): Promise<void>;
}

/**
 * Opens (or creates) the console database and brings its schema up to date.
 *
 * Crash safety: WAL journal + `synchronous=FULL`. In WAL mode NORMAL already survives a killed
 * process, but a power loss may drop the last commits; FULL fsyncs the WAL on every commit, so
 * anything the API reported as saved survives both. The console writes a few rows per second at
 * most (traffic samples are batched per minute), so the extra fsync costs nothing noticeable.
 */
export async function openDatabase(dataDir: string): Promise<OpenedDatabase> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, DB_FILE);
  const sqlite = new BetterSqlite3(path);
  // Password hashes and ciphertexts: owner only. SQLite gives the -wal/-shm files the same mode.
  chmodSync(path, 0o600);
  const created = (sqlite.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n === 0;
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // Another console on the same data dir holds the write lock briefly; wait instead of failing.
  sqlite.pragma('busy_timeout = 5000');
  const check = sqlite.pragma('quick_check', { simple: true });
  if (check !== 'ok') {
    sqlite.close();
    throw new SeamoonError('GENERAL', `database ${path} is damaged: ${String(check)}`);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    throw new SeamoonError('GENERAL', `database migration failed: ${String(error)}`, { cause: error });
  }
  return { db, sqlite, created, close: () => db.destroy() };
}

/** ISO timestamps everywhere: sortable, unambiguous, and what the API returns. */
export function nowIso(): string {
  return new Date().toISOString();
}
