import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type RunningConsole, startConsole } from '../../src/control/console.js';
import { curl } from '../helpers/curl.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import { SERVER_COMMAND, tempDataDir } from './control-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'web-test-password-1';

describe('console page in a real browser', {
  skip: !existsSync(CHROMIUM) && 'chromium is not installed',
}, () => {
  let origin: Origin;
  let dataDir: string;
  let consoleApp: RunningConsole;
  let browser: Browser;

  before(async () => {
    origin = await startHttpOrigin();
    dataDir = tempDataDir();
    consoleApp = await startConsole({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      proxyPort: 0,
      allowPrivate: true,
      adminPassword: PASSWORD,
      serverCommand: SERVER_COMMAND,
      logDestination: join(dataDir, 'console.log'),
      print: () => {},
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await consoleApp?.close();
    await origin?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('log in, see the proxy and tunnel with status, follow live counters', async () => {
    // The page's CSP forbids eval, which string predicates need; the page itself never evals.
    const page = await browser.newPage({ bypassCSP: true });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(consoleApp.url);
    await page.fill('input[name=password]', 'wrong-password');
    await page.click('button[type=submit]');
    // Page-side expressions are strings: this test compiles without the DOM library.
    await page.waitForFunction("document.getElementById('error').textContent !== ''");
    assert.match((await page.textContent('#error')) ?? '', /wrong username or password/);

    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#proxies tr');
    assert.match((await page.textContent('#proxies')) ?? '', /default.*mixed.*active/s);
    assert.match((await page.textContent('#tunnels')) ?? '', /local.*127\.0\.0\.1:\d+.*active/s);
    await page.waitForFunction("document.getElementById('live').textContent === 'live'");

    const proxy = (await consoleApp.repos.proxies.listAll())[0];
    const port = consoleApp.lifecycle.boundPort(proxy.id);
    const res = await curl([
      '-x',
      `socks5h://127.0.0.1:${port}`,
      `http://127.0.0.1:${origin.port}/bytes?n=2000000`,
    ]);
    assert.equal(res.stdout.length, 2_000_000);
    // The tunnel row's Down column comes from the per-second stats events.
    await page.waitForFunction("/MiB/.test(document.getElementById('tunnels').textContent)", undefined, {
      timeout: 5000,
    });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
