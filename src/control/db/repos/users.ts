import type { Kysely } from 'kysely';
import { nowIso } from '../database.js';
import type { Database } from '../schema.js';

export interface UserRow {
  id: number;
  username: string;
  password_hash: string;
}

export class UsersRepo {
  constructor(private readonly db: Kysely<Database>) {}

  count(): Promise<number> {
    return this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }

  find(username: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .select(['id', 'username', 'password_hash'])
      .where('username', '=', username)
      .executeTakeFirst();
  }

  async create(username: string, passwordHash: string): Promise<void> {
    const now = nowIso();
    await this.db
      .insertInto('users')
      .values({ username, password_hash: passwordHash, type: 2, created_at: now, updated_at: now })
      .execute();
  }

  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: nowIso() })
      .where('id', '=', id)
      .execute();
  }

  async recordLogin(id: number, address: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ last_login: nowIso(), last_addr: address })
      .where('id', '=', id)
      .execute();
  }
}
