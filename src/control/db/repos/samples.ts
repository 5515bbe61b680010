import type { Kysely } from 'kysely';
import type { Database, TrafficSamplesTable } from '../schema.js';

export const SAMPLE_RETENTION_MINUTES = 7 * 24 * 60;

export class SamplesRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Adds to the minute's bucket (a restart within the same minute keeps one row). */
  async record(samples: TrafficSamplesTable[]): Promise<void> {
    if (samples.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const s of samples) {
        await trx
          .insertInto('traffic_samples')
          .values(s)
          .onConflict((oc) =>
            oc.columns(['kind', 'object_id', 'minute']).doUpdateSet((eb) => ({
              bytes_up: eb('traffic_samples.bytes_up', '+', eb.ref('excluded.bytes_up')),
              bytes_down: eb('traffic_samples.bytes_down', '+', eb.ref('excluded.bytes_down')),
              conn: eb.ref('excluded.conn'),
              latency_ms: eb.ref('excluded.latency_ms'),
            })),
          )
          .execute();
      }
    });
  }

  async prune(nowMinute: number): Promise<void> {
    await this.db
      .deleteFrom('traffic_samples')
      .where('minute', '<', nowMinute - SAMPLE_RETENTION_MINUTES)
      .execute();
  }

  list(kind: 'proxy' | 'tunnel', objectId: number, sinceMinute: number): Promise<TrafficSamplesTable[]> {
    return this.db
      .selectFrom('traffic_samples')
      .selectAll()
      .where('kind', '=', kind)
      .where('object_id', '=', objectId)
      .where('minute', '>=', sinceMinute)
      .orderBy('minute')
      .execute();
  }
}
