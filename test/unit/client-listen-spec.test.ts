import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LISTEN, formatListenSpec, parseListenSpec } from '../../src/client/listen-spec.js';
import { SeamoonError } from '../../src/core/errors.js';

describe('parseListenSpec', () => {
  test('default is a mixed proxy on 127.0.0.1:1080', () => {
    assert.deepEqual(parseListenSpec(DEFAULT_LISTEN), { scheme: 'mixed', host: '127.0.0.1', port: 1080 });
  });

  test('each scheme, explicit ports including 0 and 80', () => {
    assert.deepEqual(parseListenSpec('socks5://127.0.0.1:0'), {
      scheme: 'socks5',
      host: '127.0.0.1',
      port: 0,
    });
    assert.deepEqual(parseListenSpec('http://127.0.0.1:80'), { scheme: 'http', host: '127.0.0.1', port: 80 });
    assert.deepEqual(parseListenSpec('MIXED://localhost:8888'), {
      scheme: 'mixed',
      host: 'localhost',
      port: 8888,
    });
  });

  test('default ports per scheme', () => {
    assert.equal(parseListenSpec('socks5://127.0.0.1').port, 1080);
    assert.equal(parseListenSpec('http://127.0.0.1').port, 8080);
    assert.equal(parseListenSpec('http://127.0.0.1/').port, 8080);
  });

  test('IPv6 in brackets, stored without', () => {
    assert.deepEqual(parseListenSpec('mixed://[::1]:1081'), { scheme: 'mixed', host: '::1', port: 1081 });
    assert.equal(formatListenSpec(parseListenSpec('mixed://[::1]:1081')), 'mixed://[::1]:1081');
  });

  test('credentials, percent-decoded; never rendered', () => {
    const spec = parseListenSpec('socks5://al%40ice:p%3Ass@127.0.0.1:1080');
    assert.deepEqual(spec.credentials, { username: 'al@ice', password: 'p:ss' });
    const shown = formatListenSpec(spec);
    assert.equal(shown, 'socks5://al%40ice:***@127.0.0.1:1080');
    assert.ok(!shown.includes('p:ss') && !shown.includes('p%3Ass'));
  });

  for (const [input, fragment] of [
    ['127.0.0.1:1080', 'must look like'],
    ['ftp://127.0.0.1:21', 'unsupported listen scheme "ftp"'],
    ['socks5://127.0.0.1:70000', 'cannot parse'],
    ['socks5://127.0.0.1:1080/path', 'no path'],
    ['socks5://:pw@127.0.0.1:1080', 'empty username'],
    ['mixed://::1:1080', 'cannot parse'],
  ] as const) {
    test(`rejects ${input}`, () => {
      assert.throws(
        () => parseListenSpec(input),
        (err: unknown) =>
          err instanceof SeamoonError && err.code === 'BAD_ADDRESS' && err.message.includes(fragment),
      );
    });
  }
});
