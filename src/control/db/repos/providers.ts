import type { Kysely, Selectable } from 'kysely';
import type { CloudAuth, ProviderRecord } from '../../model.js';
import type { SecretBox } from '../../secrets.js';
import { nowIso } from '../database.js';
import type { Database, ProvidersTable } from '../schema.js';
import { EntityTable, mergeNonEmpty } from './entity-table.js';

const CREDS = 'providers:credentials';

export interface NewProvider {
  name: string;
  desc: string;
  type: number;
  regions: string[];
  status: number;
  max_limit: number;
  cloud_auth: CloudAuth;
}

function toRecord(row: Selectable<ProvidersTable>): ProviderRecord {
  const { credentials: _sealed, regions, ...rest } = row;
  let parsed: unknown = [];
  try {
    parsed = JSON.parse(regions);
  } catch {
    parsed = [];
  }
  return { ...rest, regions: Array.isArray(parsed) ? parsed.map(String) : [] };
}

export class ProvidersRepo {
  readonly #rows: EntityTable<'providers'>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox,
  ) {
    this.#rows = new EntityTable(db, 'providers');
  }

  async list(offset: number, limit: number): Promise<ProviderRecord[]> {
    return (await this.#rows.page(offset, limit)).map(toRecord);
  }

  async listAll(): Promise<ProviderRecord[]> {
    return (await this.#rows.all()).map(toRecord);
  }

  count(): Promise<number> {
    return this.#rows.count();
  }

  async get(id: number): Promise<ProviderRecord | undefined> {
    const row = await this.#rows.byId(id);
    return row && toRecord(row);
  }

  async findByName(name: string): Promise<ProviderRecord | undefined> {
    const row = await this.#rows.byName(name);
    return row && toRecord(row);
  }

  async findByType(type: number): Promise<ProviderRecord | undefined> {
    const row = await this.db
      .selectFrom('providers')
      .selectAll()
      .where('type', '=', type)
      .orderBy('id')
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async credentials(id: number): Promise<CloudAuth> {
    const row = await this.db
      .selectFrom('providers')
      .select('credentials')
      .where('id', '=', id)
      .executeTakeFirst();
    return this.box.openJson(row?.credentials ?? null, CREDS);
  }

  async create(p: NewProvider): Promise<ProviderRecord> {
    const now = nowIso();
    const row = await this.db
      .insertInto('providers')
      .values({
        name: p.name,
        desc: p.desc,
        type: p.type,
        regions: JSON.stringify(p.regions),
        status: p.status,
        status_message: '',
        max_limit: p.max_limit,
        credentials: this.box.sealJson({ ...p.cloud_auth }, CREDS),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row);
  }

  /** Empty credential fields keep the stored value (the UI never sees them to send them back). */
  async update(
    id: number,
    patch: Partial<Omit<NewProvider, 'cloud_auth'>> & { cloud_auth?: CloudAuth },
  ): Promise<void> {
    const { cloud_auth, regions, ...fields } = patch;
    let credentials: string | undefined;
    if (cloud_auth) {
      credentials = this.box.sealJson(mergeNonEmpty(await this.credentials(id), cloud_auth), CREDS);
    }
    await this.db
      .updateTable('providers')
      .set({
        ...fields,
        ...(regions ? { regions: JSON.stringify(regions) } : {}),
        ...(credentials ? { credentials } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute();
  }

  setStatus(id: number, status: number, message = ''): Promise<void> {
    return this.#rows.setStatus(id, status, message);
  }

  async setInfo(id: number, amount: number | null, cost: number | null): Promise<void> {
    await this.db.updateTable('providers').set({ amount, cost }).where('id', '=', id).execute();
  }

  delete(id: number): Promise<void> {
    return this.#rows.delete(id);
  }
}
