import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHealthBody } from '../../src/client/tunnel/health-probe.js';
import { healthUrl, parseWsEndpoint, routeUrl } from '../../src/client/tunnel/ws-endpoint.js';
import { SeamoonError } from '../../src/core/errors.js';

describe('parseWsEndpoint', () => {
  test('plain host and port', () => {
    const endpoint = parseWsEndpoint(new URL('ws://127.0.0.1:9000'));
    assert.equal(endpoint.displayUrl, 'ws://127.0.0.1:9000');
    assert.equal(routeUrl(endpoint, 'socks5'), 'ws://127.0.0.1:9000/socks5');
    assert.equal(healthUrl(endpoint), 'http://127.0.0.1:9000/_health');
    assert.equal(endpoint.token, undefined);
  });

  test('wss with a prefix and a token query parameter that is stripped', () => {
    const endpoint = parseWsEndpoint(new URL('wss://edge.example.com/team/a/?token=s3cret&x=1'));
    assert.equal(endpoint.token, 's3cret');
    assert.equal(endpoint.displayUrl, 'wss://edge.example.com/team/a?x=1');
    assert.ok(!endpoint.displayUrl.includes('s3cret'));
    assert.equal(routeUrl(endpoint, 'socks5-udp'), 'wss://edge.example.com/team/a/socks5-udp?x=1');
    assert.equal(healthUrl(endpoint), 'https://edge.example.com/team/a/_health');
  });

  test('IPv6 authority keeps its brackets', () => {
    const endpoint = parseWsEndpoint(new URL('ws://[::1]:9000/'));
    assert.equal(routeUrl(endpoint, 'socks5'), 'ws://[::1]:9000/socks5');
  });

  test('rejects other schemes and user info', () => {
    assert.throws(() => parseWsEndpoint(new URL('http://h')), SeamoonError);
    assert.throws(() => parseWsEndpoint(new URL('ws://user:pw@h')), /--token/);
  });
});

describe('parseHealthBody', () => {
  test('four-line body of the original and ours', () => {
    assert.deepEqual(parseHealthBody('OK\n2026-12-04 20:00:00\n0.1.0-abc\nv2ray-core:-'), {
      ok: true,
      startedAt: '2026-12-04 20:00:00',
      version: '0.1.0-abc',
    });
  });

  test('anything else is not healthy', () => {
    const result = parseHealthBody('<html>gateway</html>');
    assert.equal(result.ok, false);
    assert.match(result.error ?? '', /unexpected health answer/);
  });
});
