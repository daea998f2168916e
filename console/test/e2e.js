#!/usr/bin/env node
// The console in a headless browser against a running mqbase: Debian's Chromium
// (/usr/bin/chromium, over the DevTools protocol) or Firefox ESR (/usr/bin/firefox-esr, over
// WebDriver BiDi), both driven by puppeteer-core. tests/integration/test_console.py starts the
// server and runs one scenario per test, in each browser:
//
//   node console/test/e2e.js --scenario NAME --url http://127.0.0.1:PORT/ --mqtt-port N
//        --out DIR [--browser chromium|firefox] [--table T] [--client-id ID] [--user U --password P]
//        [--insecure 1]   (an https:// URL whose certificate the browser cannot verify: the test CA's)
//
// pages       every page loads, shows its content and logs no error, and none is wider than a
//             390 px phone screen; screenshots of each, and of two at phone width
// topic       a value published with mosquitto_pub shows up in the topic tree, and how long
//             that took (the publish is sent once the page's subscription is live); a
//             retained message published from the page comes back with its flag
// chart       a query over --table draws a chart and a table; CSV export; the SQL history
// disconnect  the client --client-id is in the clients list, with its subscriptions in its
//             details; Disconnect removes it
// login       the login form appears (the server wants a password: the overview's first call
//             gets 401), a wrong password is refused, --user/--password logs in, the overview
//             loads, and the topic tree's MQTT connection logs in with the same user
//
// The last line printed is a JSON object: {"ok": bool, "errors": [...], ...what the scenario
// measured}. Screenshots go to --out as <scenario>-<what>.png (<browser>-<scenario>-<what>.png
// for Firefox). Exits 0 when ok, 1 when not.
'use strict';

const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const puppeteer = require('puppeteer-core');

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1];
  return out;
}

const opt = args();
const BASE = opt.url.replace(/\/$/, '');
const OUT = opt.out;
const TIMEOUT = Number(opt.timeout || 15000);
const BROWSER = opt.browser || 'chromium';
const PREFIX = BROWSER === 'chromium' ? '' : `${BROWSER}-`; // the screenshots' names
const DOWNLOADS = path.join(OUT, `${PREFIX}${opt.scenario}-downloads`);
const result = { ok: false, errors: [], screenshots: [] };
let lastPage = null; // for a screenshot of where a failing scenario stopped

// Every console error and uncaught exception of a page is a failure of the scenario, except
// the "Failed to load resource: 401" lines a login scenario expects.
function watch(page, { allow401 = false } = {}) {
  lastPage = page;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (allow401 && /status of 401/.test(text)) return;
    result.errors.push(`console error: ${text}`);
  });
  page.on('pageerror', (e) => result.errors.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A page left while its request was out (the next test step navigates on) is not a failure.
    const failure = r.failure() ? r.failure().errorText : '';
    if (!/ERR_ABORTED|NS_BINDING_ABORTED/.test(failure)) result.errors.push(`request failed: ${r.url()} ${failure}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !(allow401 && r.status() === 401)) {
      result.errors.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    }
  });
}

async function open(browser, width, height, watchOptions) {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  watch(page, watchOptions);
  return page;
}

// What the scenarios do to a page, in puppeteer's words.
const text = (page, selector) => page.$eval(selector, (e) => e.textContent);
const count = async (page, selector) => (await page.$$(selector)).length;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// A value typed into a field, as a user's typing leaves it (the input event included).
async function fill(page, selector, value) {
  await page.$eval(selector, (e, v) => {
    e.focus();
    e.value = v;
    e.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}
async function waitGone(page, selector) {
  await page.waitForSelector(selector, { hidden: true, timeout: TIMEOUT });
}

// Waits until the topic tree shows `value` as the last value of `topicName` (and, with
// retained, the retained flag).
function topicValue(page, topicName, value, { retained = false, polling = 'raf' } = {}) {
  return page.waitForFunction((t, v, r) => {
    const li = document.querySelector(`li[data-topic="${t}"]`);
    return li && (!r || li.classList.contains('retained')) && li.querySelector(':scope > .node .value').textContent === v;
  }, { timeout: TIMEOUT, polling }, topicName, value, retained);
}

async function shot(page, name) {
  const file = path.join(OUT, `${PREFIX}${opt.scenario}-${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  result.screenshots.push(file);
}

function mosquittoPub(topicName, message, extra = []) {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(opt['mqtt-port']), '-t', topicName,
      '-m', message, ...extra], { timeout: 10000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`mosquitto_pub failed: ${err.message} ${stderr}`));
      else resolve();
    });
  });
}

async function goto(page, hash) {
  await page.goto(`${BASE}/${hash}`, { waitUntil: 'load' });
}

const scenarios = {
  async pages(browser) {
    const page = await open(browser, 1280, 860);
    // A retained value and a table, so that the pages have something to show.
    await mosquittoPub('plant/1/line/2/temp', '21.5', ['-r']);
    await mosquittoPub('plant/1/line/2/state', 'running', ['-r']);

    await goto(page, '#/overview');
    await page.waitForSelector('[data-chart="messages"] canvas', { timeout: TIMEOUT });
    await page.waitForFunction(() => !/loading/.test(document.getElementById('overview-status').textContent),
      { timeout: TIMEOUT });
    result.overview_status = await text(page, '#overview-status');
    result.overview_charts = await count(page, '[data-chart] canvas');
    await shot(page, 'overview');

    await goto(page, '#/topics');
    await page.waitForSelector('#live-status[data-status="connected"]', { timeout: TIMEOUT });
    await page.waitForSelector('li[data-topic="plant/1/line/2/temp"]', { timeout: TIMEOUT });
    await page.click('li[data-topic="plant/1/line/2/temp"] > .node');
    await shot(page, 'topics');

    await goto(page, '#/clients');
    await page.waitForSelector('#client-table', { timeout: TIMEOUT });
    result.clients_rows = await count(page, '#client-table tbody tr');
    if (result.clients_rows) {
      await page.click('#client-table tbody tr');
      await page.waitForSelector('#client-detail h3', { timeout: TIMEOUT });
    }
    await shot(page, 'clients');

    await goto(page, '#/tables');
    await page.waitForFunction(() => !/loading/.test(document.getElementById('tables-status').textContent),
      { timeout: TIMEOUT });
    if (opt.table) {
      await page.click(`tr[data-table="${opt.table}"]`);
      await page.waitForSelector('#table-detail table.schema', { timeout: TIMEOUT });
      result.tables_schema_rows = await count(page, '#table-detail table.schema tbody tr');
    }
    await shot(page, 'tables');

    await goto(page, '#/sql');
    await page.waitForSelector('#sql-editor', { timeout: TIMEOUT });
    await fill(page, '#sql-editor', 'SELECT * FROM mqtt_clients');
    await page.keyboard.down('Control');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Control');
    await page.waitForSelector('#sql-table', { timeout: TIMEOUT });
    await shot(page, 'sql');

    // Phone width: no page may stick out sideways (wide tables scroll inside their box).
    await page.setViewport({ width: 390, height: 844 });
    const ready = { overview: '[data-chart] canvas', topics: 'li[data-topic]', clients: '#client-table',
      tables: '#tables-table', sql: '#sql-editor' };
    for (const [p, selector] of Object.entries(ready)) {
      await goto(page, `#/${p}`);
      await page.waitForSelector(selector, { timeout: TIMEOUT });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) result.errors.push(`${p} at 390 px is ${overflow} px wider than the screen`);
      if (p === 'overview' || p === 'topics') await shot(page, `phone-${p}`);
    }
  },

  async topic(browser) {
    const page = await open(browser, 1280, 800);
    await goto(page, '#/topics');
    await page.waitForSelector('#live-status[data-status="connected"]', { timeout: TIMEOUT });
    // The subscription is live once a message of ours comes back: publish a marker until it does.
    const marker = `console-test/ready/${Date.now()}`;
    for (let i = 0; i < 20; i++) {
      await mosquittoPub(marker, 'x');
      if (await count(page, `li[data-topic="${marker}"]`)) break;
      await sleep(100);
    }
    await page.waitForSelector(`li[data-topic="${marker}"]`, { timeout: TIMEOUT });
    const topicName = opt.topic || 'console-test/sensor/temp';
    const value = `v-${Math.random().toString(36).slice(2)}`;
    const began = Date.now();
    await mosquittoPub(topicName, value, ['-q', '1']);
    const published = Date.now();
    await topicValue(page, topicName, value, { polling: 20 });
    const seen = Date.now();
    result.publish_ms = published - began;
    result.appeared_after_ms = seen - published;
    result.value = value;
    // Publish from the page: the value comes back through the broker.
    await fill(page, '#pub-topic', 'console-test/from-page');
    await fill(page, '#pub-payload', 'hello from the console');
    await page.select('#pub-qos', '1');
    if (!(await page.$eval('#pub-retain', (e) => e.checked))) await page.click('#pub-retain');
    await page.click('#pub-submit');
    await topicValue(page, 'console-test/from-page', 'hello from the console', { retained: true });
    await page.click(`li[data-topic="${topicName}"] > .node`);
    await shot(page, 'tree');
  },

  async chart(browser) {
    const page = await open(browser, 1280, 900);
    await goto(page, '#/sql');
    await page.waitForSelector('#sql-editor', { timeout: TIMEOUT });
    await fill(page, '#sql-editor', `SELECT name, time, value FROM ${opt.table} ORDER BY time`);
    await page.click('#sql-run');
    await page.waitForSelector('#sql-chart:not([hidden]) canvas', { timeout: TIMEOUT });
    await page.waitForSelector('#sql-table', { timeout: TIMEOUT });
    result.series = await page.$$eval('#sql-chart .u-legend .u-series th', (ths) => ths.map((t) => t.textContent.trim()));
    result.table_rows = await count(page, '#sql-table tbody tr');
    result.status = await text(page, '#sql-status');
    // The canvas has something drawn on it: count its non-transparent pixels.
    result.painted_pixels = await page.$eval('#sql-chart canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
      return n;
    });
    await shot(page, 'sql');
    // CSV export: a real download (into a directory of its own, set up at launch) whose first
    // line is the header.
    const csvPath = path.join(DOWNLOADS, 'mqbase-result.csv');
    if (BROWSER === 'chromium') {
      const cdp = await page.createCDPSession();
      await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: DOWNLOADS });
    }
    await page.click('#sql-csv');
    for (let waited = 0; !fs.existsSync(csvPath) || fs.statSync(csvPath).size === 0; waited += 50) {
      if (waited > TIMEOUT) throw new Error(`no download at ${csvPath}`);
      await sleep(50);
    }
    await sleep(100); // written whole
    result.csv = fs.readFileSync(csvPath, 'utf8').split('\r\n').slice(0, 2);
    // The history keeps the query across a reload.
    await page.reload();
    await page.waitForSelector('#sql-editor', { timeout: TIMEOUT });
    result.history = await page.$$eval('#sql-history option', (os) => os.map((o) => o.value).filter(Boolean));
  },

  async disconnect(browser) {
    const page = await open(browser, 1280, 800);
    const id = opt['client-id'];
    await goto(page, '#/clients');
    await page.waitForSelector(`tr[data-client="${id}"]`, { timeout: TIMEOUT });
    await page.click(`tr[data-client="${id}"]`);
    // (the detail first says "loading subscriptions…": wait for the table itself)
    const subs = await page.waitForFunction(() => {
      const tds = [...document.querySelectorAll('#client-detail table.subs tbody tr td:first-child')];
      return tds.length ? tds.map((t) => t.textContent) : null;
    }, { timeout: TIMEOUT });
    result.subscriptions = await subs.jsonValue();
    await shot(page, 'before');
    const button = `button[data-disconnect="${id}"]`;
    await page.click(button);
    await page.click(button); // the second click confirms
    await waitGone(page, `tr[data-client="${id}"]`);
    result.status = await text(page, '#clients-status');
    await shot(page, 'after');
  },

  async login(browser) {
    const page = await open(browser, 1280, 800, { allow401: true });
    await goto(page, '#/overview');
    await page.waitForSelector('#login:not([hidden])', { timeout: TIMEOUT });
    await shot(page, 'form');
    await fill(page, '#login-user', opt.user);
    await fill(page, '#login-password', 'not-the-password');
    await page.click('#login-submit');
    await page.waitForSelector('#login-error:not([hidden])', { timeout: TIMEOUT });
    result.wrong_password_message = await text(page, '#login-error');
    await fill(page, '#login-password', opt.password);
    await page.click('#login-submit');
    await waitGone(page, '#login');
    result.user_shown = await text(page, '#user-name');
    await page.waitForSelector('[data-chart="clients"] canvas', { timeout: TIMEOUT });
    await goto(page, '#/topics');
    await page.waitForSelector('#live-status[data-status="connected"]', { timeout: TIMEOUT });
    await mosquittoPub('console-test/after-login', 'ok', ['-u', opt.user, '-P', opt.password]);
    await page.waitForSelector('li[data-topic="console-test/after-login"]', { timeout: TIMEOUT });
    await goto(page, '#/sql');
    await fill(page, '#sql-editor', 'SELECT 1 AS one');
    await page.click('#sql-run');
    await page.waitForSelector('#sql-table', { timeout: TIMEOUT });
    result.query_after_login = await text(page, '#sql-table tbody td');
    await shot(page, 'sql');
  },
};

(async () => {
  let browser;
  try {
    if (!scenarios[opt.scenario]) throw new Error(`no scenario ${opt.scenario}: ${Object.keys(scenarios).join(', ')}`);
    fs.rmSync(DOWNLOADS, { recursive: true, force: true });
    fs.mkdirSync(DOWNLOADS, { recursive: true });
    if (BROWSER === 'chromium') {
      browser = await puppeteer.launch({
        browser: 'chrome',
        executablePath: opt['browser-path'] || '/usr/bin/chromium',
        headless: true,
        acceptInsecureCerts: opt.insecure === '1',
        // Root in a container has no user namespaces for Chromium's sandbox.
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      });
    } else if (BROWSER === 'firefox') {
      browser = await puppeteer.launch({
        browser: 'firefox',
        executablePath: opt['browser-path'] || '/usr/bin/firefox-esr',
        headless: true,
        acceptInsecureCerts: opt.insecure === '1',
        // A download goes to DOWNLOADS without asking.
        extraPrefsFirefox: {
          'browser.download.folderList': 2,
          'browser.download.dir': DOWNLOADS,
          'browser.download.useDownloadDir': true,
          'browser.helperApps.neverAsk.saveToDisk': 'text/csv',
        },
      });
    } else {
      throw new Error(`no browser ${BROWSER}: chromium or firefox`);
    }
    await scenarios[opt.scenario](browser);
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.errors.push(`${e.name}: ${e.message.split('\n').slice(0, 6).join('\n')}`);
    if (lastPage) {
      const file = path.join(OUT, `${PREFIX}${opt.scenario}-failed.png`);
      await lastPage.screenshot({ path: file }).then(() => result.errors.push(`screenshot: ${file}`), () => {});
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  if (result.errors.length) result.ok = false;
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
})();
