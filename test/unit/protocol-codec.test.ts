import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytesToIpv6, ipv6ToBytes } from '../../src/protocol/ip-bytes.js';
import {
  addressLength,
  decodeAddress,
  decodeGreeting,
  decodeMethodSelection,
  decodeReply,
  decodeRequest,
  decodeUdpFrame,
  decodeUserPassRequest,
  decodeUserPassResponse,
  encodeAddress,
  encodeGreeting,
  encodeMethodSelection,
  encodeReply,
  encodeRequest,
  encodeUdpFrame,
  encodeUserPassRequest,
  encodeUserPassResponse,
  udpFrameLength,
} from '../../src/protocol/socks5-codec.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('ip-bytes', () => {
  test('IPv6 text ⇄ bytes, RFC 5952 output', () => {
    assert.deepEqual(ipv6ToBytes('::1'), hex('00000000000000000000000000000001'));
    assert.deepEqual(ipv6ToBytes('2001:db8::8:800:200c:417a'), hex('20010db8000000000008 0800200c417a'));
    assert.deepEqual(ipv6ToBytes('::ffff:127.0.0.1'), hex('00000000000000000000ffff7f000001'));
    assert.deepEqual(ipv6ToBytes('fe80::1%eth0'), hex('fe800000000000000000000000000001'));
    assert.equal(bytesToIpv6(hex('20010db8000000000008 0800200c417a')), '2001:db8::8:800:200c:417a');
    assert.equal(bytesToIpv6(hex('00000000000000000000000000000001')), '::1');
    assert.equal(bytesToIpv6(hex('00000000000000000000000000000000')), '::');
    assert.equal(bytesToIpv6(hex('00000000000000000000ffff7f000001')), '::ffff:127.0.0.1');
    // Longest zero run wins; a single zero group is not compressed.
    assert.equal(bytesToIpv6(hex('20010db8 0000 0001 0000 0000 0000 0001')), '2001:db8:0:1::1');
    assert.equal(bytesToIpv6(hex('20010db8 0001 0001 0001 0001 0000 0001')), '2001:db8:1:1:1:1:0:1');
    assert.throws(() => ipv6ToBytes('not-an-ip'), { code: 'BAD_ADDRESS' });
  });
});

describe('socks5 codec: addresses', () => {
  test('IPv4, IPv6 and domain known answers', () => {
    assert.deepEqual(encodeAddress({ host: '127.0.0.1', port: 80 }), hex('01 7f000001 0050'));
    assert.deepEqual(
      encodeAddress({ host: '2001:db8::1', port: 443 }),
      hex('04 20010db8000000000000000000000001 01bb'),
    );
    assert.deepEqual(
      encodeAddress({ host: 'example.com', port: 8080 }),
      hex('03 0b 6578616d706c652e636f6d 1f90'),
    );
    assert.deepEqual(decodeAddress(hex('01 7f000001 0050')), {
      target: { host: '127.0.0.1', port: 80 },
      length: 7,
    });
    assert.deepEqual(decodeAddress(hex('04 20010db8000000000000000000000001 01bb')), {
      target: { host: '2001:db8::1', port: 443 },
      length: 19,
    });
    assert.deepEqual(decodeAddress(hex('ff 03 0b 6578616d706c652e636f6d 1f90'), 1), {
      target: { host: 'example.com', port: 8080 },
      length: 15,
    });
  });

  test('lengths, truncation and bad types', () => {
    assert.equal(addressLength(hex('01')), 7);
    assert.equal(addressLength(hex('04')), 19);
    assert.equal(addressLength(hex('03')), undefined);
    assert.equal(addressLength(hex('03 05')), 9);
    assert.throws(() => addressLength(hex('02')), { code: 'UNSUPPORTED_ADDRESS' });
    assert.throws(() => decodeAddress(hex('01 7f00')), { code: 'BAD_REQUEST' });
    assert.throws(() => decodeAddress(hex('03 00 0050')), { code: 'BAD_ADDRESS' });
    assert.throws(() => encodeAddress({ host: 'a'.repeat(256), port: 1 }), { code: 'BAD_ADDRESS' });
  });
});

describe('socks5 codec: negotiation', () => {
  test('greeting and method selection', () => {
    assert.deepEqual(encodeGreeting([0x00, 0x02]), hex('05 02 00 02'));
    assert.deepEqual(decodeGreeting(hex('05 03 00 80 82 ff')), { methods: [0, 0x80, 0x82], length: 5 });
    assert.throws(() => decodeGreeting(hex('04 01 00')), { code: 'BAD_REQUEST' });
    assert.throws(() => decodeGreeting(hex('05 02 00')), { code: 'BAD_REQUEST' });
    assert.deepEqual(encodeMethodSelection(0xff), hex('05 ff'));
    assert.equal(decodeMethodSelection(hex('05 02')), 2);
  });

  test('RFC 1929 request and response', () => {
    const request = encodeUserPassRequest({ username: 'user', password: 'pässword' });
    assert.deepEqual(request, hex('01 04 75736572 09 70c3a47373776f7264'));
    const decoded = decodeUserPassRequest(Buffer.concat([request, hex('aa')]));
    assert.equal(decoded.username.toString(), 'user');
    assert.equal(decoded.password.toString(), 'pässword');
    assert.equal(decoded.length, request.length);
    assert.throws(() => decodeUserPassRequest(hex('01 04 7573')), { code: 'BAD_REQUEST' });
    assert.deepEqual(encodeUserPassResponse(0), hex('01 00'));
    assert.equal(decodeUserPassResponse(hex('01 01')), 1);
  });

  test('request and reply', () => {
    assert.deepEqual(
      encodeRequest(1, { host: 'localhost', port: 80 }),
      hex('05 01 00 03 09 6c6f63616c686f7374 0050'),
    );
    assert.deepEqual(decodeRequest(hex('05 03 00 04 00000000000000000000000000000001 1234 ffff')), {
      command: 3,
      target: { host: '::1', port: 0x1234 },
      length: 22,
    });
    assert.deepEqual(encodeReply(0), hex('05 00 00 01 00000000 0000'));
    assert.deepEqual(encodeReply(5, { host: '10.1.2.3', port: 1080 }), hex('05 05 00 01 0a010203 0438'));
    assert.deepEqual(decodeReply(hex('05 00 00 01 7f000001 1f90')), {
      reply: 0,
      bound: { host: '127.0.0.1', port: 8080 },
      length: 10,
    });
    assert.throws(() => decodeRequest(hex('05 01 00 09 00')), { code: 'UNSUPPORTED_ADDRESS' });
  });
});

describe('socks5 codec: UDP frames', () => {
  const payload = Buffer.from('ping');

  test('RFC 1928 frame (RSV = 0) known answer', () => {
    const frame = encodeUdpFrame({ target: { host: '127.0.0.1', port: 53 }, payload });
    assert.deepEqual(frame, hex('0000 00 01 7f000001 0035 70696e67'));
    const decoded = decodeUdpFrame(frame);
    assert.deepEqual(decoded.target, { host: '127.0.0.1', port: 53 });
    assert.equal(decoded.payload.toString(), 'ping');
    assert.equal(decoded.length, frame.length);
    assert.equal(udpFrameLength(frame), undefined, 'RSV = 0: length is "the rest of the message"');
  });

  test('gost/SeaMoon length-prefixed frame (RSV = payload length)', () => {
    const frame = encodeUdpFrame({ target: { host: '::1', port: 5353 }, payload }, true);
    assert.deepEqual(frame, hex('0004 00 04 00000000000000000000000000000001 14e9 70696e67'));
    assert.equal(udpFrameLength(frame), frame.length);
    // Two frames back to back: RSV tells where the first one ends.
    const second = encodeUdpFrame({ target: { host: 'example.com', port: 7 }, payload: hex('0102') }, true);
    assert.deepEqual(second, hex('0002 00 03 0b 6578616d706c652e636f6d 0007 0102'));
    const both = Buffer.concat([frame, second]);
    const first = decodeUdpFrame(both);
    assert.equal(first.payload.toString(), 'ping');
    assert.equal(first.length, frame.length);
    const next = decodeUdpFrame(both.subarray(first.length));
    assert.deepEqual(next.target, { host: 'example.com', port: 7 });
    assert.deepEqual(next.payload, hex('0102'));
  });

  test('truncated and malformed frames are errors, not crashes', () => {
    assert.throws(() => decodeUdpFrame(hex('0010 00 01 7f000001 0035 70')), { code: 'BAD_REQUEST' });
    assert.throws(() => decodeUdpFrame(hex('0000 00')), { code: 'BAD_REQUEST' });
    assert.throws(() => decodeUdpFrame(hex('0000 00 07 00 00')), { code: 'UNSUPPORTED_ADDRESS' });
    assert.equal(decodeUdpFrame(hex('0000 05 01 7f000001 0035')).frag, 5);
  });
});
