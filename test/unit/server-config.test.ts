import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeamoonError } from '../../src/core/errors.js';
import { generateToken, resolveRouteAccess, TokenChecker } from '../../src/server/auth.js';
import { parseServerOptions } from '../../src/server/config.js';
import { decodeEarlyData, MAX_EARLY_DATA_BYTES } from '../../src/server/early-data.js';
import { formatLocalTime, healthText } from '../../src/server/health.js';

describe('parseServerOptions', () => {
  test('defaults match the original server', () => {
    const options = parseServerOptions({}, {});
    assert.equal(options.host, '0.0.0.0');
    assert.equal(options.port, 9000);
    assert.equal(options.type, 'websocket');
    assert.equal(options.token, undefined);
    assert.equal(options.noAuth, false);
    assert.equal(options.allowPrivate, false);
    assert.equal(options.idleTimeoutMs, 300_000);
    assert.equal(options.handshakeTimeoutMs, 10_000);
    assert.equal(options.dialTimeoutMs, 10_000);
  });

  test('token from SM_TOKEN, flag wins over env, --no-auth drops it', () => {
    assert.equal(parseServerOptions({}, { SM_TOKEN: 'env-token' }).token, 'env-token');
    assert.equal(parseServerOptions({ token: 'flag-token' }, { SM_TOKEN: 'env-token' }).token, 'flag-token');
    const open = parseServerOptions({ auth: false }, { SM_TOKEN: 'env-token' });
    assert.equal(open.noAuth, true);
    assert.equal(open.token, undefined);
  });

  test('--proto is an alias of --type, ws is websocket', () => {
    assert.equal(parseServerOptions({ proto: 'grpc' }, {}).type, 'grpc');
    assert.equal(parseServerOptions({ type: 'ws' }, {}).type, 'websocket');
  });

  test('bad values are BAD_REQUEST errors naming the problem', () => {
    const cases: Array<[Parameters<typeof parseServerOptions>[0], RegExp]> = [
      [{ port: '70000' }, /invalid port "70000"/],
      [{ port: '-1' }, /invalid port/],
      [{ port: 'http' }, /invalid port/],
      [{ type: 'quic' }, /unknown transport type "quic"/],
      [{ allow: ['10.0.0.0/33'] }, /invalid --allow CIDR/],
      [{ allow: ['example.com'] }, /invalid --allow CIDR/],
      [{ idleTimeout: 'soon' }, /invalid --idle-timeout/],
      [{ handshakeTimeout: '0' }, /invalid --handshake-timeout/],
      [{ logLevel: 'loud' }, /invalid log level/],
      [{ token: 'has space' }, /invalid token/],
      [{ tlsCert: 'cert.pem' }, /--tls-cert and --tls-key/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(
        () => parseServerOptions(flags, {}),
        (err: unknown) =>
          err instanceof SeamoonError && err.code === 'BAD_REQUEST' && message.test(err.message),
        JSON.stringify(flags),
      );
    }
  });

  test('port 0, CIDR lists and fractional seconds are accepted', () => {
    const options = parseServerOptions(
      { port: '0', allow: ['10.1.0.0/16', 'fd00::/8', '192.168.1.7'], idleTimeout: '0', dialTimeout: '2.5' },
      {},
    );
    assert.equal(options.port, 0);
    assert.deepEqual(options.allow, ['10.1.0.0/16', 'fd00::/8', '192.168.1.7']);
    assert.equal(options.idleTimeoutMs, 0);
    assert.equal(options.dialTimeoutMs, 2500);
  });
});

describe('token authentication', () => {
  const checker = new TokenChecker('s3cret-token');

  test('matches only the exact token', () => {
    assert.equal(checker.matches('s3cret-token'), true);
    assert.equal(checker.matches('s3cret-toke'), false);
    assert.equal(checker.matches('s3cret-token '), false);
    assert.equal(checker.matches(''), false);
    assert.equal(checker.matches(undefined), false);
  });

  test('a disabled checker lets everything through', () => {
    const open = new TokenChecker(undefined);
    assert.equal(open.enabled, false);
    assert.equal(open.matches(undefined), true);
  });

  test('bearer header or path prefix, route name stripped of the token', () => {
    assert.deepEqual(resolveRouteAccess('/socks5', 'Bearer s3cret-token', checker), {
      route: 'socks5',
      authorized: true,
    });
    assert.deepEqual(resolveRouteAccess('/s3cret-token/socks5', undefined, checker), {
      route: 'socks5',
      authorized: true,
    });
    assert.deepEqual(resolveRouteAccess('/edge/s3cret-token/http?x=1', undefined, checker), {
      route: 'http',
      authorized: true,
    });
    assert.deepEqual(resolveRouteAccess('/socks5', 'bearer   s3cret-token', checker), {
      route: 'socks5',
      authorized: true,
    });
  });

  test('wrong or missing tokens are refused', () => {
    assert.equal(resolveRouteAccess('/socks5', undefined, checker).authorized, false);
    assert.equal(resolveRouteAccess('/socks5', 'Bearer wrong', checker).authorized, false);
    assert.equal(resolveRouteAccess('/socks5', 'Basic czNjcmV0LXRva2Vu', checker).authorized, false);
    assert.equal(resolveRouteAccess('/wrong/socks5', undefined, checker).authorized, false);
    // The token as the route itself is not a way in.
    assert.equal(resolveRouteAccess('/s3cret-token', undefined, checker).authorized, false);
  });

  test('paths with no route shape', () => {
    assert.equal(resolveRouteAccess('/', 'Bearer s3cret-token', checker).route, undefined);
    assert.equal(resolveRouteAccess('/a/b/c/d/e/f/g/h/i', undefined, checker).route, undefined);
    assert.equal(resolveRouteAccess('/%E0%A4%A/socks5', undefined, checker).authorized, false);
  });

  test('generated tokens are 32 base64url characters and differ', () => {
    const a = generateToken();
    const b = generateToken();
    assert.match(a, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(a, b);
  });
});

describe('early data', () => {
  test('decodes RawURLEncoding base64url', () => {
    const bytes = Buffer.from([0x05, 0x01, 0x00, 0xfb, 0xff]);
    assert.deepEqual(decodeEarlyData(bytes.toString('base64url')), bytes);
    assert.deepEqual(decodeEarlyData('aGVsbG8'), Buffer.from('hello'));
  });

  test('refuses what is not early data', () => {
    assert.equal(decodeEarlyData(undefined), undefined);
    assert.equal(decodeEarlyData(''), undefined);
    assert.equal(decodeEarlyData('aGVsbG8='), undefined); // padded: not RawURLEncoding
    assert.equal(decodeEarlyData('a+b/'), undefined); // standard alphabet
    assert.equal(decodeEarlyData('chat, superchat'), undefined);
    assert.equal(decodeEarlyData('abcde'), undefined); // 4n+1 characters
    const max = Buffer.alloc(MAX_EARLY_DATA_BYTES, 1).toString('base64url');
    assert.equal(decodeEarlyData(max)?.length, MAX_EARLY_DATA_BYTES);
    const tooBig = Buffer.alloc(MAX_EARLY_DATA_BYTES + 1, 1).toString('base64url');
    assert.equal(decodeEarlyData(tooBig), undefined);
  });
});

describe('health text', () => {
  test('four lines in the original layout', () => {
    const started = new Date(2026, 0, 8, 7, 5, 3);
    assert.equal(formatLocalTime(started), '2026-01-08 07:05:03');
    const lines = healthText(started).split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], 'OK');
    assert.equal(lines[1], '2026-01-08 07:05:03');
    assert.match(lines[2] ?? '', /^\d+\.\d+\.\d+-/);
    assert.match(lines[3] ?? '', /^v2ray-core:-/);
  });
});
