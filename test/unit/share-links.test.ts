import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  displayShareLink,
  formatShareLink,
  parseShareLink,
  type ShareLink,
} from '../../src/client/share-links.js';

const uuid = 'b831381d-6324-4d53-ad4f-8cda48b30811';

describe('share links', () => {
  test('vless: the Xray#91 form with ws, tls, host, sni and a name', () => {
    const link = parseShareLink(
      `vless://${uuid}@edge.example.com:443?encryption=none&type=ws&security=tls&path=%2Fvless%3Fed%3D2048&host=cdn.example.com&sni=sni.example.com#My%20Node`,
    );
    assert.deepEqual(link, {
      protocol: 'vless',
      uuid,
      address: 'edge.example.com',
      port: 443,
      name: 'My Node',
      transport: {
        network: 'ws',
        path: '/vless?ed=2048',
        host: 'cdn.example.com',
        sni: 'sni.example.com',
        tls: true,
        insecure: undefined,
      },
    });
  });

  test('vless: IPv6 in brackets, defaults, bad UUID and unsupported security are refused', () => {
    const link = parseShareLink(`vless://${uuid}@[2001:db8::1]:8080?type=ws&path=/v`);
    assert.equal(link.address, '2001:db8::1');
    assert.equal(link.transport.tls, false);
    assert.throws(() => parseShareLink('vless://not-a-uuid@h:1'), { code: 'BAD_ADDRESS' });
    assert.throws(() => parseShareLink(`vless://${uuid}@h:1?security=reality`), {
      code: 'UNSUPPORTED_COMMAND',
    });
  });

  test('vmess: v2rayN base64 JSON (standard, URL-safe or unpadded base64)', () => {
    const json = {
      v: '2',
      ps: 'tokyo',
      add: '203.0.113.7',
      port: '443',
      id: uuid,
      aid: '0',
      scy: 'chacha20-poly1305',
      net: 'ws',
      type: 'none',
      host: 'h.example',
      path: '/vmess',
      tls: 'tls',
      sni: 's.example',
    };
    const base64 = Buffer.from(JSON.stringify(json)).toString('base64');
    for (const encoded of [
      base64,
      base64.replace(/=+$/, ''),
      Buffer.from(JSON.stringify(json)).toString('base64url'),
    ]) {
      const link = parseShareLink(`vmess://${encoded}`);
      assert.equal(link.protocol, 'vmess');
      if (link.protocol !== 'vmess') return;
      assert.equal(link.security, 'chacha20-poly1305');
      assert.equal(link.port, 443);
      assert.deepEqual(link.transport, {
        network: 'ws',
        path: '/vmess',
        host: 'h.example',
        sni: 's.example',
        tls: true,
        insecure: undefined,
      });
    }
  });

  test('vmess: the older Shadowrocket form that the original server prints', () => {
    const encoded = Buffer.from(`auto:${uuid}@1.2.3.4:8080`).toString('base64url');
    const link = parseShareLink(`vmess://${encoded}?remarks=sm&path=/vmess&obfs=websocket&tls=1&alterId=0`);
    assert.equal(link.protocol, 'vmess');
    assert.equal(link.address, '1.2.3.4');
    assert.equal(link.transport.network, 'ws');
    assert.equal(link.transport.tls, true);
    assert.equal(link.name, 'sm');
  });

  test('ss: SIP002 with a v2ray-plugin websocket form, plain userinfo and the legacy form', () => {
    const userInfo = Buffer.from('aes-256-gcm:pa:ss;word').toString('base64url');
    const plugin = encodeURIComponent('v2ray-plugin;mode=websocket;path=/v-shadowsocks;tls;host=h.example');
    const link = parseShareLink(`ss://${userInfo}@h.example:443/?plugin=${plugin}#SS%20one`);
    assert.deepEqual(link, {
      protocol: 'ss',
      method: 'aes-256-gcm',
      password: 'pa:ss;word',
      address: 'h.example',
      port: 443,
      name: 'SS one',
      transport: { network: 'ws', path: '/v-shadowsocks', host: 'h.example', tls: true },
    });
    const plainUserInfo = parseShareLink('ss://2022-blake3-aes-128-gcm:abc%3D@[::1]:8388');
    assert.equal(plainUserInfo.protocol === 'ss' && plainUserInfo.password, 'abc=');
    assert.equal(plainUserInfo.address, '::1');
    const legacy = parseShareLink(
      `ss://${Buffer.from('chacha20-ietf-poly1305:pw@10.0.0.1:8388').toString('base64')}#x`,
    );
    assert.equal(legacy.protocol === 'ss' && legacy.method, 'chacha20-ietf-poly1305');
    assert.throws(() => parseShareLink(`ss://${userInfo}@h:1/?plugin=obfs-local%3Bobfs%3Dhttp`), {
      code: 'UNSUPPORTED_COMMAND',
    });
  });

  test('format → parse round trips for each protocol, and the display form hides secrets', () => {
    const transport = {
      network: 'ws' as const,
      path: '/p a;th',
      host: 'h.example',
      sni: 's.example',
      tls: true,
    };
    const links: ShareLink[] = [
      { protocol: 'vless', uuid, address: '2001:db8::2', port: 443, name: 'n 1', transport },
      {
        protocol: 'vmess',
        uuid,
        security: 'auto',
        alterId: 0,
        address: 'a.example',
        port: 8443,
        name: 'n2',
        transport,
      },
      {
        protocol: 'ss',
        method: 'aes-128-gcm',
        password: 'p@ss=;x',
        address: '127.0.0.1',
        port: 9000,
        name: 'n3',
        transport: { network: 'ws', path: '/v-shadowsocks', host: 'h.example', tls: true },
      },
    ];
    for (const link of links) {
      const text = formatShareLink(link);
      const parsed = parseShareLink(text);
      assert.deepEqual(
        { ...parsed, transport: { ...parsed.transport, insecure: undefined } },
        {
          ...link,
          transport: { ...link.transport, insecure: undefined },
        },
      );
      const shown = displayShareLink(parsed);
      assert.ok(!shown.includes(uuid) && !shown.includes('p@ss'), shown);
    }
  });

  test('garbage is BAD_ADDRESS', () => {
    for (const text of [
      'http://x',
      'vmess://!!!',
      `vmess://${Buffer.from('{"add":"h"}').toString('base64')}`,
      'ss://bm9jb2xvbg@h:1',
    ]) {
      assert.throws(() => parseShareLink(text), { code: 'BAD_ADDRESS' }, text);
    }
  });
});
