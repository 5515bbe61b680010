import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  codeForSocksReply,
  httpStatusFor,
  SeamoonError,
  socksReplyFor,
  toSeamoonError,
} from '../../src/core/errors.js';

describe('error codes', () => {
  test('errno values become codes a reply can use', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(toSeamoonError(refused).code, 'CONNECTION_REFUSED');
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' });
    assert.equal(toSeamoonError(dns).code, 'DNS_FAILED');
    assert.equal(toSeamoonError('weird').code, 'GENERAL');
    const own = new SeamoonError('EGRESS_DENIED', 'no');
    assert.equal(toSeamoonError(own), own);
  });

  test('SOCKS reply codes round-trip for the codes that have one', () => {
    for (const code of [
      'EGRESS_DENIED',
      'NETWORK_UNREACHABLE',
      'HOST_UNREACHABLE',
      'CONNECTION_REFUSED',
      'TTL_EXPIRED',
      'UNSUPPORTED_COMMAND',
      'UNSUPPORTED_ADDRESS',
    ] as const) {
      assert.equal(codeForSocksReply(socksReplyFor(code)), code);
    }
    assert.equal(socksReplyFor('GENERAL'), 0x01);
  });

  test('HTTP statuses: policy 403, timeout 504, a tunnel refusing us is 502 (never 407)', () => {
    assert.equal(httpStatusFor('EGRESS_DENIED'), 403);
    assert.equal(httpStatusFor('DIAL_TIMEOUT'), 504);
    assert.equal(httpStatusFor('CONNECTION_REFUSED'), 502);
    assert.equal(httpStatusFor('AUTH_FAILED'), 502);
    assert.equal(httpStatusFor('BAD_REQUEST'), 400);
  });
});
