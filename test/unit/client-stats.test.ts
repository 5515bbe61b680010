import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatBytes, ListenerStats } from '../../src/client/stats.js';

describe('ListenerStats', () => {
  test('counts connections, live bytes and errors', () => {
    const stats = new ListenerStats('mixed://127.0.0.1:1080');
    stats.connectionOpened();
    stats.connectionOpened();
    stats.connectionClosed();
    stats.counters.onUp?.(100);
    stats.counters.onDown?.(2048);
    stats.counters.onDown?.(2048);
    stats.recordError('EGRESS_DENIED');
    stats.recordError('EGRESS_DENIED');
    stats.recordError('AUTH_FAILED');
    assert.deepEqual(stats.snapshot(), {
      label: 'mixed://127.0.0.1:1080',
      active: 1,
      total: 2,
      bytesUp: 100,
      bytesDown: 4096,
      errors: { EGRESS_DENIED: 2, AUTH_FAILED: 1 },
    });
    assert.equal(
      stats.render(),
      'mixed://127.0.0.1:1080: active 1, total 2, up 100 B (100), down 4.0 KiB (4096), errors EGRESS_DENIED=2 AUTH_FAILED=1',
    );
  });

  test('active never goes negative', () => {
    const stats = new ListenerStats('x');
    stats.connectionClosed();
    assert.equal(stats.active, 0);
    assert.match(stats.render(), /errors none$/);
  });

  test('formatBytes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(64 * 1024 * 1024), '64.0 MiB');
  });
});
