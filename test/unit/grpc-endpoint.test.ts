import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseGrpcEndpoint } from '../../src/client/tunnel/grpc.js';
import { SeamoonError } from '../../src/core/errors.js';

describe('gRPC tunnel URLs', () => {
  test('grpcs:// defaults to 443 and TLS, grpc:// to 80 and h2c', () => {
    assert.deepEqual(parseGrpcEndpoint(new URL('grpcs://edge.example.com')), {
      host: 'edge.example.com',
      port: 443,
      tls: true,
      displayUrl: 'grpcs://edge.example.com',
      token: undefined,
    });
    const plain = parseGrpcEndpoint(new URL('grpc://127.0.0.1:8089'));
    assert.equal(plain.port, 8089);
    assert.equal(plain.tls, false);
  });

  test('IPv6 literals lose their brackets; a ?token= is taken but never displayed', () => {
    const endpoint = parseGrpcEndpoint(new URL('grpc://[::1]:9000/?token=s3cret'));
    assert.equal(endpoint.host, '::1');
    assert.equal(endpoint.token, 's3cret');
    assert.equal(endpoint.displayUrl, 'grpc://[::1]:9000');
  });

  test('paths and foreign schemes are rejected with BAD_ADDRESS', () => {
    for (const url of ['grpc://host:1/prefix', 'ws://host:1']) {
      assert.throws(
        () => parseGrpcEndpoint(new URL(url)),
        (err: unknown) => err instanceof SeamoonError && err.code === 'BAD_ADDRESS',
        url,
      );
    }
  });
});
