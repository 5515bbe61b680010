import type { Kysely, Selectable } from 'kysely';
import { nowIso } from '../database.js';
import type { Database } from '../schema.js';

/** The tables of named entities with a status (providers, tunnels, proxies). */
export type EntityTableName = 'providers' | 'tunnels' | 'proxies';

type Row<T extends EntityTableName> = Selectable<Database[T]>;

/**
 * The queries the entity tables share. Kysely cannot check a column name against a table type
 * parameter, so each query names the union of the tables (every one has these columns) and the
 * rows are typed back to the table this instance reads.
 */
export class EntityTable<T extends EntityTableName> {
  readonly #table: EntityTableName;

  constructor(
    private readonly db: Kysely<Database>,
    table: T,
  ) {
    this.#table = table;
  }

  async page(offset: number, limit: number): Promise<Row<T>[]> {
    const rows = await this.db
      .selectFrom(this.#table)
      .selectAll()
      .orderBy('id')
      .offset(offset)
      .limit(limit)
      .execute();
    return rows as Row<T>[];
  }

  async all(): Promise<Row<T>[]> {
    return (await this.db.selectFrom(this.#table).selectAll().orderBy('id').execute()) as Row<T>[];
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom(this.#table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async byId(id: number): Promise<Row<T> | undefined> {
    const row = await this.db.selectFrom(this.#table).selectAll().where('id', '=', id).executeTakeFirst();
    return row as Row<T> | undefined;
  }

  async byName(name: string): Promise<Row<T> | undefined> {
    const row = await this.db.selectFrom(this.#table).selectAll().where('name', '=', name).executeTakeFirst();
    return row as Row<T> | undefined;
  }

  async setStatus(id: number, status: number, message = ''): Promise<void> {
    await this.db
      .updateTable(this.#table)
      .set({ status, status_message: message, updated_at: nowIso() })
      .where('id', '=', id)
      .execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom(this.#table).where('id', '=', id).execute();
  }
}

/** Stored secrets with the non-empty values of `patch` on top (empty fields keep what is stored). */
export function mergeNonEmpty(stored: object, patch: object): Record<string, string> {
  const merged = { ...stored } as Record<string, string>;
  for (const [k, v] of Object.entries(patch)) if (typeof v === 'string' && v !== '') merged[k] = v;
  return merged;
}
