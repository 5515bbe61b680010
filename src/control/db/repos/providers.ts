import type { Kysely, Selectable } from 'kysely';
import type { CloudAuth, ProviderRecord } from '../../model.js';
import type { SecretBox } from '../../secrets.js';
import { nowIso } from '../database.js';
import type { Database, ProvidersTable } from '../schema.js';

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
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox,
  ) {}

  async list(offset: number, limit: number): Promise<ProviderRecord[]> {
    const rows = await this.db
      .selectFrom('providers')
      .selectAll()
      .orderBy('id')
      .offset(offset)
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  async listAll(): Promise<ProviderRecord[]> {
    return (await this.db.selectFrom('providers').selectAll().orderBy('id').execute()).map(toRecord);
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('providers')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async get(id: number): Promise<ProviderRecord | undefined> {
    const row = await this.db.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async findByName(name: string): Promise<ProviderRecord | undefined> {
    const row = await this.db.selectFrom('providers').selectAll().where('name', '=', name).executeTakeFirst();
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
      const merged: Record<string, string> = { ...(await this.credentials(id)) } as Record<string, string>;
      for (const [k, v] of Object.entries(cloud_auth)) if (typeof v === 'string' && v !== '') merged[k] = v;
      credentials = this.box.sealJson(merged, CREDS);
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

  async setStatus(id: number, status: number, message = ''): Promise<void> {
    await this.db
      .updateTable('providers')
      .set({ status, status_message: message, updated_at: nowIso() })
      .where('id', '=', id)
      .execute();
  }

  async setInfo(id: number, amount: number | null, cost: number | null): Promise<void> {
    await this.db.updateTable('providers').set({ amount, cost }).where('id', '=', id).execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('providers').where('id', '=', id).execute();
  }
}
