import type { Kysely, Selectable } from 'kysely';
import type { ProxyRecord, ProxyType } from '../../model.js';
import { nowIso } from '../database.js';
import type { Database, ProxiesTable } from '../schema.js';
import { EntityTable } from './entity-table.js';

export interface NewProxy {
  name: string;
  type: ProxyType;
  status: number;
  listen_address: string;
  listen_port: number;
  allow_udp: boolean;
  tunnel_ids: number[];
}

export type ProxyPatch = Partial<
  Pick<
    ProxyRecord,
    | 'name'
    | 'type'
    | 'listen_address'
    | 'listen_port'
    | 'allow_udp'
    | 'conn'
    | 'speed_up'
    | 'speed_down'
    | 'lag'
    | 'in_bound'
    | 'out_bound'
    | 'last_error'
  >
>;

export class ProxiesRepo {
  readonly #rows: EntityTable<'proxies'>;

  constructor(private readonly db: Kysely<Database>) {
    this.#rows = new EntityTable(db, 'proxies');
  }

  private async withTunnels(rows: Selectable<ProxiesTable>[]): Promise<ProxyRecord[]> {
    if (rows.length === 0) return [];
    const links = await this.db
      .selectFrom('proxy_tunnels')
      .selectAll()
      .where(
        'proxy_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('position')
      .execute();
    return rows.map((row) => ({
      ...row,
      type: row.type as ProxyType,
      allow_udp: row.allow_udp === 1,
      enabled: row.enabled === 1,
      tunnel_ids: links.filter((l) => l.proxy_id === row.id).map((l) => l.tunnel_id),
    }));
  }

  private async oneWithTunnels(row: Selectable<ProxiesTable> | undefined): Promise<ProxyRecord | undefined> {
    return row ? (await this.withTunnels([row]))[0] : undefined;
  }

  async list(offset: number, limit: number): Promise<ProxyRecord[]> {
    return this.withTunnels(await this.#rows.page(offset, limit));
  }

  async listAll(): Promise<ProxyRecord[]> {
    return this.withTunnels(await this.#rows.all());
  }

  async listByTunnel(tunnelId: number): Promise<ProxyRecord[]> {
    const rows = await this.db
      .selectFrom('proxies')
      .selectAll('proxies')
      .innerJoin('proxy_tunnels', 'proxy_tunnels.proxy_id', 'proxies.id')
      .where('proxy_tunnels.tunnel_id', '=', tunnelId)
      .execute();
    return this.withTunnels(rows);
  }

  count(): Promise<number> {
    return this.#rows.count();
  }

  async get(id: number): Promise<ProxyRecord | undefined> {
    return this.oneWithTunnels(await this.#rows.byId(id));
  }

  async findByName(name: string): Promise<ProxyRecord | undefined> {
    return this.oneWithTunnels(await this.#rows.byName(name));
  }

  async findByListen(address: string, port: number): Promise<ProxyRecord | undefined> {
    const row = await this.db
      .selectFrom('proxies')
      .selectAll()
      .where('listen_address', '=', address)
      .where('listen_port', '=', port)
      .where('listen_port', '!=', 0)
      .executeTakeFirst();
    return this.oneWithTunnels(row);
  }

  async create(p: NewProxy): Promise<ProxyRecord> {
    const now = nowIso();
    const id = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('proxies')
        .values({
          name: p.name,
          type: p.type,
          status: p.status,
          status_message: '',
          listen_address: p.listen_address,
          listen_port: p.listen_port,
          allow_udp: p.allow_udp ? 1 : 0,
          created_at: now,
          updated_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await setLinks(trx, row.id, p.tunnel_ids);
      return row.id;
    });
    const created = await this.get(id);
    if (!created) throw new Error('proxy vanished after insert');
    return created;
  }

  async update(id: number, patch: ProxyPatch & { tunnel_ids?: number[] }): Promise<void> {
    const { tunnel_ids, allow_udp, ...fields } = patch;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('proxies')
        .set({
          ...fields,
          ...(allow_udp === undefined ? {} : { allow_udp: allow_udp ? 1 : 0 }),
          updated_at: nowIso(),
        })
        .where('id', '=', id)
        .execute();
      if (tunnel_ids) await setLinks(trx, id, tunnel_ids);
    });
  }

  /** Counters are written without touching `updated_at` (they change every minute). */
  async saveCounters(id: number, counters: Omit<ProxyPatch, 'allow_udp'>): Promise<void> {
    await this.db.updateTable('proxies').set(counters).where('id', '=', id).execute();
  }

  async setEnabled(id: number, enabled: boolean): Promise<void> {
    await this.db
      .updateTable('proxies')
      .set({ enabled: enabled ? 1 : 0 })
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

async function setLinks(trx: Kysely<Database>, proxyId: number, tunnelIds: number[]): Promise<void> {
  await trx.deleteFrom('proxy_tunnels').where('proxy_id', '=', proxyId).execute();
  if (tunnelIds.length === 0) return;
  await trx
    .insertInto('proxy_tunnels')
    .values(tunnelIds.map((tunnel_id, position) => ({ proxy_id: proxyId, tunnel_id, position })))
    .execute();
}
