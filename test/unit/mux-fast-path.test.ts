import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SeamoonError } from '../../src/core/errors.js';
import {
  decodeFastPathRequest,
  encodeFastPathRequest,
  FastPathCommand,
  FastPathFlag,
  fastPathHeaderLength,
} from '../../src/transport/mux/fast-path.js';

describe('fast-path stream header (docs/mux.md)', () => {
  test('known bytes: domain target with the onion flag', () => {
    const bytes = encodeFastPathRequest({
      command: FastPathCommand.TCP,
      target: { host: 'example.com', port: 443 },
      flags: FastPathFlag.ONION,
    });
    // ver 01 | cmd 01 | ATYP 03 | len 0b | "example.com" | port 01bb | flags 01
    assert.equal(bytes.toString('hex'), `0101030b${Buffer.from('example.com').toString('hex')}01bb01`);
  });

  test('known bytes: IPv4 and IPv6 targets', () => {
    assert.equal(
      encodeFastPathRequest({ command: 1, target: { host: '127.0.0.1', port: 80 }, flags: 0 }).toString(
        'hex',
      ),
      '0101017f000001005000',
    );
    assert.equal(
      encodeFastPathRequest({ command: 1, target: { host: '::1', port: 8080 }, flags: 0 }).toString('hex'),
      `010104${'00'.repeat(15)}011f9000`,
    );
  });

  test('round-trips and tells the header length from its first bytes', () => {
    const header = encodeFastPathRequest({ command: 1, target: { host: 'a.test', port: 1 }, flags: 0 });
    const withData = Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]);
    assert.equal(fastPathHeaderLength(withData.subarray(0, 3)), undefined, 'domain length not seen yet');
    assert.equal(fastPathHeaderLength(withData.subarray(0, 4)), header.length);
    const { request, length } = decodeFastPathRequest(withData);
    assert.equal(length, header.length);
    assert.deepEqual(request, { command: 1, target: { host: 'a.test', port: 1 }, flags: 0 });
  });

  test('rejects other versions, commands, address types and unknown flags', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as SeamoonError).code;
      }
      return 'none';
    };
    assert.equal(
      code(() => fastPathHeaderLength(Buffer.from([2, 1, 1]))),
      'BAD_REQUEST',
    );
    assert.equal(
      code(() => fastPathHeaderLength(Buffer.from([1, 2, 1]))),
      'UNSUPPORTED_COMMAND',
    );
    assert.equal(
      code(() => fastPathHeaderLength(Buffer.from([1, 1, 9]))),
      'UNSUPPORTED_ADDRESS',
    );
    assert.equal(
      code(() => decodeFastPathRequest(Buffer.from('0101017f0000010050', 'hex'))),
      'BAD_REQUEST',
    );
    assert.equal(
      code(() => decodeFastPathRequest(Buffer.from('0101017f000001005080', 'hex'))),
      'BAD_REQUEST',
    );
  });
});
