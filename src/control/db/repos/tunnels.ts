import type { Kysely, Selectable } from 'kysely';
import {
  DEFAULT_TUNNEL_CONFIG,
  type TunnelConfig,
  type TunnelRecord,
  type TunnelSecrets,
} from '../../model.js';
import type { SecretBox } from '../../secrets.js';
import { nowIso } from '../database.js';
import type { Database, TunnelsTable } from '../schema.js';
import { EntityTable, mergeNonEmpty } from './entity-table.js';

const SECRETS = 'tunnels:secrets';

export interface NewTunnel {
  provider_id: number;
  name: string;
  type: string;
  status: number;
  port: number;
  address: string;
  uniq_id: string;
  config: TunnelConfig;
  secrets: TunnelSecrets;
  cascade_tunnel_id: number | null;
}

function toRecord(row: Selectable<TunnelsTable>): TunnelRecord {
  const { secrets: _sealed, config, ...rest } = row;
  let parsed: Partial<TunnelConfig> = {};
  try {
    parsed = JSON.parse(config) as Partial<TunnelConfig>;
  } catch {
    parsed = {};
  }
  return { ...rest, config: { ...DEFAULT_TUNNEL_CONFIG, ...parsed } };
}

export type TunnelPatch = Partial<
  Pick<
    TunnelRecord,
    | 'name'
    | 'address'
    | 'port'
    | 'type'
    | 'uniq_id'
    | 'version'
    | 'v2ray_version'
    | 'last_check_time'
    | 'latency_ms'
    | 'cascade_tunnel_id'
  >
> & { config?: TunnelConfig };

export class TunnelsRepo {
  readonly #rows: EntityTable<'tunnels'>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox,
  ) {
    this.#rows = new EntityTable(db, 'tunnels');
  }

  async list(offset: number, limit: number): Promise<TunnelRecord[]> {
    return (await this.#rows.page(offset, limit)).map(toRecord);
  }

  async listAll(): Promise<TunnelRecord[]> {
    return (await this.#rows.all()).map(toRecord);
  }

  async listByProvider(providerId: number): Promise<TunnelRecord[]> {
    const rows = await this.db
      .selectFrom('tunnels')
      .selectAll()
      .where('provider_id', '=', providerId)
      .execute();
    return rows.map(toRecord);
  }

  async dependents(id: number): Promise<TunnelRecord[]> {
    const rows = await this.db
      .selectFrom('tunnels')
      .selectAll()
      .where('cascade_tunnel_id', '=', id)
      .execute();
    return rows.map(toRecord);
  }

  count(): Promise<number> {
    return this.#rows.count();
  }

  async countByProvider(providerId: number): Promise<number> {
    const r = await this.db
      .selectFrom('tunnels')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('provider_id', '=', providerId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async get(id: number): Promise<TunnelRecord | undefined> {
    const row = await this.#rows.byId(id);
    return row && toRecord(row);
  }

  async findByName(name: string): Promise<TunnelRecord | undefined> {
    const row = await this.#rows.byName(name);
    return row && toRecord(row);
  }

  async secrets(id: number): Promise<TunnelSecrets> {
    const row = await this.db.selectFrom('tunnels').select('secrets').where('id', '=', id).executeTakeFirst();
    return this.box.openJson(row?.secrets ?? null, SECRETS);
  }

  /** Names of the secrets a tunnel has (never their values), for the API. */
  async secretNames(id: number): Promise<string[]> {
    return Object.keys(await this.secrets(id));
  }

  async create(t: NewTunnel): Promise<TunnelRecord> {
    const now = nowIso();
    const row = await this.db
      .insertInto('tunnels')
      .values({
        provider_id: t.provider_id,
        name: t.name,
        type: t.type,
        status: t.status,
        port: t.port,
        address: t.address,
        uniq_id: t.uniq_id,
        config: JSON.stringify(t.config),
        secrets: this.box.sealJson({ ...t.secrets } as Record<string, string>, SECRETS),
        cascade_tunnel_id: t.cascade_tunnel_id,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row);
  }

  async update(id: number, patch: TunnelPatch): Promise<void> {
    const { config, ...fields } = patch;
    await this.db
      .updateTable('tunnels')
      .set({ ...fields, ...(config ? { config: JSON.stringify(config) } : {}), updated_at: nowIso() })
      .where('id', '=', id)
      .execute();
  }

  /** Merges non-empty values into the stored secrets. */
  async mergeSecrets(id: number, secrets: TunnelSecrets): Promise<void> {
    const merged = mergeNonEmpty(await this.secrets(id), secrets);
    await this.db
      .updateTable('tunnels')
      .set({ secrets: this.box.sealJson(merged, SECRETS) })
      .where('id', '=', id)
      .execute();
  }

  setStatus(id: number, status: number, message = ''): Promise<void> {
    return this.#rows.setStatus(id, status, message);
  }

  delete(id: number): Promise<void> {
    return this.#rows.delete(id);
  }
}
