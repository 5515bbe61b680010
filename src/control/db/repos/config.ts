import type { Kysely } from 'kysely';
import type { SecretBox } from '../../secrets.js';
import type { Database } from '../schema.js';

/** User-editable settings; values are strings as in the original (`"true"`/`"false"`). */
export const CONFIG_DEFAULTS = {
  control_addr: '127.0.0.1',
  control_port: '7777',
  control_log: 'seamoon.log',
  auto_start: 'true',
  auto_sync: 'true',
  /** Downloaded through a proxy by the speed test. */
  speed_test_url: 'https://speed.cloudflare.com/__down?bytes=10000000',
  /** Seconds between health checks of active tunnels (0 = off). */
  health_interval: '60',
} as const;
export type ConfigKey = keyof typeof CONFIG_DEFAULTS;
export type ConfigValues = Record<ConfigKey, string>;
export const CONFIG_KEYS = Object.keys(CONFIG_DEFAULTS) as ConfigKey[];

export class ConfigRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox,
  ) {}

  async all(): Promise<ConfigValues> {
    const rows = await this.db.selectFrom('config').selectAll().execute();
    const values: ConfigValues = { ...CONFIG_DEFAULTS };
    for (const row of rows) if (row.key in values) values[row.key as ConfigKey] = row.value;
    return values;
  }

  async get(key: ConfigKey): Promise<string> {
    const row = await this.db.selectFrom('config').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value ?? CONFIG_DEFAULTS[key];
  }

  /** Only the keys given are written (the original blanked omitted keys). */
  async set(values: Partial<ConfigValues>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [key, value] of Object.entries(values)) {
        if (value === undefined) continue;
        await trx
          .insertInto('config')
          .values({ key, value })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
          .execute();
      }
    });
  }

  /** An install-wide secret, created on first use (e.g. the JWT key). */
  async appSecret(name: string, create: () => string): Promise<string> {
    const purpose = `app_secrets:${name}`;
    const row = await this.db
      .selectFrom('app_secrets')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirst();
    if (row) return this.box.decrypt(row.value, purpose);
    const value = create();
    await this.db
      .insertInto('app_secrets')
      .values({ name, value: this.box.encrypt(value, purpose) })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    // Re-read so two racing first runs agree on one value.
    const stored = await this.db
      .selectFrom('app_secrets')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return this.box.decrypt(stored.value, purpose);
  }

  /** Internal markers (e.g. first-run setup done); stored beside the settings, never listed. */
  async flag(name: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('config')
      .select('value')
      .where('key', '=', `internal.${name}`)
      .executeTakeFirst();
    return row?.value === 'true';
  }

  async setFlag(name: string): Promise<void> {
    const key = `internal.${name}`;
    await this.db
      .insertInto('config')
      .values({ key, value: 'true' })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: 'true' }))
      .execute();
  }

  async deleteAppSecret(name: string): Promise<void> {
    await this.db.deleteFrom('app_secrets').where('name', '=', name).execute();
  }
}
