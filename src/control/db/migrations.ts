import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

/**
 * Versioned, in-code migrations (no files to ship next to a bundle). Kysely records applied
 * names in `kysely_migration`; never edit a released migration, add a new one.
 */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;
      await db.schema
        .createTable('users')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('type', 'integer', (c) => c.notNull().defaultTo(2))
        .addColumn('last_login', 'text')
        .addColumn('last_addr', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(now))
        .execute();
      await db.schema
        .createTable('config')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('app_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('providers')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('desc', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('type', 'integer', (c) => c.notNull())
        .addColumn('regions', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('status_message', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('max_limit', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('amount', 'real')
        .addColumn('cost', 'real')
        .addColumn('credentials', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(now))
        .execute();
      await db.schema
        .createTable('tunnels')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('provider_id', 'integer', (c) =>
          c.notNull().references('providers.id').onDelete('cascade'),
        )
        .addColumn('uniq_id', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('address', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('port', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('type', 'text', (c) => c.notNull().defaultTo('websocket'))
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('status_message', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('version', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('v2ray_version', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('last_check_time', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('latency_ms', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('config', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('secrets', 'text')
        .addColumn('cascade_tunnel_id', 'integer', (c) => c.references('tunnels.id').onDelete('set null'))
        .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(now))
        .execute();
      await db.schema.createIndex('tunnels_provider').on('tunnels').column('provider_id').execute();
      await db.schema
        .createTable('proxies')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('status_message', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('listen_address', 'text', (c) => c.notNull())
        .addColumn('listen_port', 'integer', (c) => c.notNull())
        .addColumn('allow_udp', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('conn', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('speed_up', 'real', (c) => c.notNull().defaultTo(0))
        .addColumn('speed_down', 'real', (c) => c.notNull().defaultTo(0))
        .addColumn('lag', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('in_bound', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('out_bound', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(now))
        .execute();
      await db.schema
        .createTable('proxy_tunnels')
        .addColumn('proxy_id', 'integer', (c) => c.notNull().references('proxies.id').onDelete('cascade'))
        .addColumn('tunnel_id', 'integer', (c) => c.notNull().references('tunnels.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('proxy_tunnels_pk', ['proxy_id', 'tunnel_id'])
        .execute();
      await db.schema.createIndex('proxy_tunnels_tunnel').on('proxy_tunnels').column('tunnel_id').execute();
      await db.schema
        .createTable('traffic_samples')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('object_id', 'integer', (c) => c.notNull())
        .addColumn('minute', 'integer', (c) => c.notNull())
        .addColumn('bytes_up', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_down', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('conn', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('latency_ms', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('traffic_samples_pk', ['kind', 'object_id', 'minute'])
        .execute();
      await db.schema.createIndex('traffic_samples_minute').on('traffic_samples').column('minute').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
