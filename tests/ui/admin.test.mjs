// Browser tests of the hookd admin page (/admin/), against the real binary.
//
// Starts `hookd serve` on a free loopback port with a fresh SQLite database,
// creates a site plus admin and publisher tokens through the API, runs a
// loopback webhook receiver whose status can be switched, and drives Debian's
// Chromium with playwright-core using accessible locators only.
//
// Env: HOOKD_BIN (default <repo>/build/hookd), CHROMIUM (default /usr/bin/chromium),
//      HOOKD_TEST_PG_URL (a PostgreSQL with wal_level=logical: the operator view with capture streaming),
//      HOOKD_UI_HEADED=1 to watch the browser.
// Screenshots go to tests/ui/artifacts/ (gitignored), with the server log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const HOOKD_BIN = process.env.HOOKD_BIN || path.join(REPO, 'build', 'hookd');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const SITE = 'ui-test';
const WAIT = 20_000; // generous: the machine has 2 cores and may be building

const env = {
  operatorToken: `hkd_op_${crypto.randomBytes(24).toString('base64url')}`,
  base: '',
  server: null,
  serverExit: null,
  serverLog: null,
  tmp: '',
  adminToken: '',
  publisherToken: '',
  catalog: null,
  receiver: null,
  browser: null,
};

// ------------------------------------------------------------------ helpers

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Calls the hookd API; returns {status, body}. */
async function call(method, p, { token, body, headers } = {}) {
  const res = await fetch(env.base + p, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json, headers: res.headers };
}

async function mustCall(expected, method, p, opts) {
  const r = await call(method, p, opts);
  assert.equal(r.status, expected, `${method} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

function publish(event, entity, entityId) {
  return mustCall(202, 'POST', `/v1/sites/${SITE}/events`, {
    token: env.publisherToken,
    body: { event, entity, entityId },
  });
}

/** Polls fn until it returns a truthy value or the time runs out. */
async function eventually(fn, what, timeout = WAIT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(200);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A loopback receiver: records requests, answers with a switchable status. */
function startReceiver() {
  return new Promise((resolve) => {
    const rec = { status: 200, body: 'ok', requests: [], server: null, url: '' };
    rec.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        rec.requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(rec.status, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(rec.body);
      });
    });
    rec.server.listen(0, '127.0.0.1', () => {
      rec.url = `http://127.0.0.1:${rec.server.address().port}`;
      resolve(rec);
    });
  });
}

async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await env.browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => { page.jsErrors.push(String(e)); });
  page.on('console', (m) => { if (m.type() === 'error') page.consoleErrors.push(m.text()); });
  page.jsErrors = [];
  page.consoleErrors = [];
  return page;
}

async function signIn(page) {
  await page.goto(`${env.base}/admin/`);
  await page.getByLabel('Admin token').fill(env.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
}

/** The card of the webhook whose payload URL is url. */
function card(page, url) {
  return page.getByRole('article', { name: url, exact: true });
}

/** The delivery-log row (list item) of the delivery for entity id `id`. */
function logRow(cardLoc, id) {
  return cardLoc.getByRole('region', { name: 'Delivery log' })
    .getByRole('listitem')
    .filter({ has: cardLoc.page().getByRole('button', { name: new RegExp(`\\b${id}\\b`) }) });
}

/** Waits until the row's state badge reads state (the page refreshes by itself). */
async function waitRowState(row, state) {
  await row.getByRole('button', { name: new RegExp(`^${state}\\b`) }).waitFor({ timeout: WAIT });
}

// -------------------------------------------------------------- set-up

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  assert.ok(fs.existsSync(HOOKD_BIN), `hookd binary not found at ${HOOKD_BIN} (build it, or set HOOKD_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);

  env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookd-ui-'));
  const port = await freePort();
  env.base = `http://127.0.0.1:${port}`;
  env.serverLog = fs.createWriteStream(path.join(ARTIFACTS, 'hookd.log'));
  env.server = spawn(HOOKD_BIN, [
    'serve',
    '--listen', `127.0.0.1:${port}`,
    '--db', `sqlite:${path.join(env.tmp, 'hookd.db')}`,
    '--allow-private-network',
    '--retry-schedule', '0s,1s,1s',
  ], {
    cwd: env.tmp,
    env: { ...process.env, HOOKD_OPERATOR_TOKEN: env.operatorToken },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  env.server.stdout.pipe(env.serverLog);
  env.server.stderr.pipe(env.serverLog);
  env.serverExit = new Promise((resolve) => env.server.on('exit', (code, sig) => resolve({ code, sig })));
  let exited = null;
  env.serverExit.then((x) => { exited = x; });

  await eventually(async () => {
    if (exited) throw new Error(`hookd exited early (${JSON.stringify(exited)}); see tests/ui/artifacts/hookd.log`);
    try {
      const r = await fetch(`${env.base}/healthz`);
      return r.status === 200;
    } catch {
      return false;
    }
  }, 'GET /healthz = 200', 30_000).catch((e) => {
    if (exited) throw new Error(`hookd exited early (${JSON.stringify(exited)}); see tests/ui/artifacts/hookd.log`);
    throw e;
  });

  const op = { token: env.operatorToken };
  await mustCall(201, 'POST', '/v1/sites', { ...op, body: { id: SITE, name: 'UI Test Site' } });
  const admin = await mustCall(201, 'POST', `/v1/sites/${SITE}/tokens`, { ...op, body: { role: 'admin', name: 'ui admin' } });
  const pub = await mustCall(201, 'POST', `/v1/sites/${SITE}/tokens`, { ...op, body: { role: 'publisher', name: 'ui publisher' } });
  env.adminToken = admin.token;
  env.publisherToken = pub.token;
  assert.ok(env.adminToken && env.publisherToken, 'tokens are returned once at creation');
  env.catalog = await mustCall(200, 'GET', '/v1/catalog', { token: env.adminToken });

  env.receiver = await startReceiver();
  env.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: process.env.HOOKD_UI_HEADED !== '1',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (env.browser) await env.browser.close().catch(() => {});
  if (env.receiver) await new Promise((r) => { env.receiver.server.closeAllConnections?.(); env.receiver.server.close(r); });
  if (env.server && env.server.exitCode === null && env.server.signalCode === null) {
    env.server.kill('SIGTERM');
    const t = setTimeout(() => env.server.kill('SIGKILL'), 5000);
    await env.serverExit;
    clearTimeout(t);
  }
  if (env.serverLog) env.serverLog.end();
  if (env.tmp) fs.rmSync(env.tmp, { recursive: true, force: true });
});

// ----------------------------------------------------------------- tests

test('sign-in rejects bad and non-admin tokens, keeps the session, signs out', { timeout: 90_000 }, async () => {
  const page = await newPage();
  try {
    await page.goto(`${env.base}/admin/`);
    const tokenField = page.getByLabel('Admin token');
    await tokenField.waitFor();
    // The token field has focus on load, so the keyboard alone can sign in.
    assert.equal(await tokenField.evaluate((el) => el === document.activeElement), true, 'token field is focused');
    await shot(page, '01-sign-in');

    await page.keyboard.type('hkd_not-a-real-token');
    await page.keyboard.press('Enter');
    await page.getByText('That token was not accepted', { exact: false }).waitFor();
    assert.equal(await tokenField.getAttribute('aria-invalid'), 'true');

    await tokenField.fill(env.publisherToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Sign in with an admin token', { exact: false }).waitFor();

    await tokenField.fill(env.adminToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    const crumbs = page.getByRole('navigation', { name: 'Breadcrumb' });
    assert.match((await crumbs.innerText()).replace(/\s+/g, ' '), /Admin › Marketplace › Webhooks/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.adminToken')), env.adminToken);

    // A reload keeps the session (sessionStorage).
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.adminToken')), null);

    // A revoked token ends the session.
    const extra = await mustCall(201, 'POST', `/v1/sites/${SITE}/tokens`, {
      token: env.operatorToken, body: { role: 'admin', name: 'revoked soon' },
    });
    await page.getByLabel('Admin token').fill(extra.token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await mustCall(204, 'DELETE', `/v1/sites/${SITE}/tokens/${extra.id}`, { token: env.operatorToken });
    await page.reload();
    // Either the reload finds the token revoked ("Please sign in again."), or the page's
    // own refresh already noticed the 401 and signed out before the reload: both end the
    // session and show the sign-in form.
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.adminToken')), null);
    assert.deepEqual(page.jsErrors, []);
  } finally {
    await page.context().close();
  }
});

test('admin manages a webhook end to end', { timeout: 240_000 }, async (t) => {
  const page = await newPage();
  const rec = env.receiver;
  const url = `${rec.url}/hooks/ui-admin`;
  const url2 = `${rec.url}/hooks/ui-second`;
  const names = env.catalog.entities.map((e) => e.name);
  const picks = ['Agreement', 'Room', 'Desk'].filter((n) => names.includes(n));
  for (const n of names) if (picks.length < 3 && !picks.includes(n)) picks.push(n);
  let hookId = null;
  let failed = false;

  // Sub-steps run in order; once one fails the rest are skipped (they depend on it).
  const step = (name, fn) => t.test(name, async (st) => {
    if (failed) { st.skip('an earlier step failed'); return; }
    try { await fn(); } catch (e) {
      failed = true;
      await shot(page, `failed-${name.replace(/\W+/g, '-')}`).catch(() => {});
      throw e;
    }
  });

  try {
    await step('sign in and see the empty list', async () => {
      await signIn(page);
      await page.getByRole('heading', { name: 'No webhooks yet' }).waitFor();
      await page.getByRole('button', { name: 'Create Webhook' }).waitFor();
      await shot(page, '02-list-empty');
    });

    await step('create a webhook picking 3 data points through the search box', async () => {
      await page.getByRole('button', { name: 'Create Webhook' }).click();
      const dlg = page.getByRole('dialog', { name: 'Create Webhook' });
      await dlg.waitFor();

      await dlg.getByLabel('Payload URL').fill(url);
      const secret = dlg.getByLabel('Secret', { exact: true });
      assert.equal(await secret.inputValue(), '');
      await dlg.getByRole('button', { name: 'Generate' }).click();
      assert.match(await secret.inputValue(), /^whsec_[A-Za-z0-9+/=]{40,}$/);

      const events = dlg.getByRole('group', { name: 'Event' });
      await events.getByRole('checkbox', { name: 'Create', exact: true }).check();
      await events.getByRole('checkbox', { name: 'Update', exact: true }).check();
      const method = dlg.getByRole('group', { name: 'Method' });
      await method.getByRole('radio', { name: 'Post', exact: true }).check();

      const everything = dlg.getByRole('switch', { name: 'Send me everything' });
      if (await everything.isChecked()) await everything.uncheck();
      assert.equal(await everything.isChecked(), false);

      // All 140 data points are offered as labelled checkboxes.
      const points = dlg.getByRole('group', { name: 'Data points' }).getByRole('checkbox');
      await eventually(async () => (await points.count()) === names.length, 'the catalogue checkboxes');
      assert.equal(names.length, 140, 'the default catalogue has 140 entity types');

      const search = dlg.getByLabel('Search data points');
      for (const name of picks) {
        await search.fill(name);
        const box = dlg.getByRole('checkbox', { name, exact: true });
        await box.check();
        // The search narrows the visible list.
        const visible = await points.evaluateAll((els) => els.filter((e) => e.checkVisibility()).length);
        assert.ok(visible >= 1 && visible < names.length, `search "${name}" shows ${visible} data points`);
      }
      // "Select all" / "Select none" act on the filtered set only.
      await search.fill('zzz-no-such-point');
      await dlg.getByText('No data points match your search.').waitFor();
      await search.fill(picks[0]);
      await dlg.getByRole('button', { name: 'Select none' }).click();
      assert.equal(await dlg.getByRole('checkbox', { name: picks[0], exact: true }).isChecked(), false);
      await dlg.getByRole('button', { name: 'Select all' }).click();
      await search.fill('');
      const checked = await points.evaluateAll((els) => els.filter((e) => e.checked).map((e) => e.value));
      const expected = new Set(picks);
      for (const n of names) if (n.toLowerCase().includes(picks[0].toLowerCase())) expected.add(n);
      assert.deepEqual(new Set(checked), expected);
      // Back to exactly the three picks.
      await search.fill(picks[0]);
      await dlg.getByRole('button', { name: 'Select none' }).click();
      await dlg.getByRole('checkbox', { name: picks[0], exact: true }).check();
      await search.fill('');
      await dlg.getByText(`3 of ${names.length} selected`).waitFor();

      await dlg.getByLabel('Description').fill('UI test webhook');
      await shot(page, '03-form');
      await dlg.getByRole('button', { name: 'Save' }).click();
      await dlg.waitFor({ state: 'hidden' });

      const c = card(page, url);
      await c.waitFor();
      await c.getByText('3 data points').waitFor();
      await c.getByText('Create, Update').waitFor();
      await c.getByText('Enabled', { exact: true }).waitFor();

      const list = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks`, { token: env.adminToken });
      assert.equal(list.data.length, 1);
      const w = list.data[0];
      hookId = w.id;
      assert.equal(w.payloadUrl, url);
      assert.equal(w.method, 'POST');
      assert.equal(w.sendEverything, false);
      assert.deepEqual([...w.events].sort(), ['CREATE', 'UPDATE']);
      assert.deepEqual([...w.entities].sort(), [...picks].sort());
      assert.equal(w.description, 'UI test webhook');
      assert.equal(w.secret, '********');
    });

    await step('send a test and see status 200', async () => {
      const c = card(page, url);
      const before = rec.requests.length;
      rec.status = 200;
      rec.body = 'test ok';
      await c.getByRole('button', { name: 'Send test' }).click();
      await c.getByText('Test message delivered').waitFor();
      await c.getByText('Status: HTTP 200').waitFor();
      await c.getByText(/Latency: \d/).waitFor();
      await c.getByText('test ok').first().waitFor();
      assert.equal(rec.requests.length, before + 1);
      const r = rec.requests.at(-1);
      assert.equal(r.method, 'POST');
      assert.ok(r.headers['x-ioffice-signature'], 'legacy signature header present');
      await shot(page, '04-list');
    });

    await step('a published event appears in the delivery log with its attempt', async () => {
      const c = card(page, url);
      rec.body = '<b>received</b> & stored';
      await publish('CREATE', picks[0], 1001);
      await c.getByRole('button', { name: 'Delivery log' }).click();
      assert.equal(await c.getByRole('button', { name: 'Delivery log' }).getAttribute('aria-expanded'), 'true');
      const row = logRow(c, 1001);
      await waitRowState(row, 'Succeeded');
      await row.getByRole('button', { name: /1001/ }).click();
      const attempt = row.getByRole('list', { name: 'Attempts' }).getByRole('listitem');
      await attempt.first().waitFor();
      assert.equal(await attempt.count(), 1);
      await attempt.getByText('HTTP 200').waitFor();
      await attempt.getByText(/^\d+(\.\d+)? m?s$/).waitFor();
      // The response snippet is shown as text, never as markup.
      const pre = attempt.locator('pre');
      assert.equal(await pre.textContent(), '<b>received</b> & stored');
      assert.equal(await pre.locator('b').count(), 0);
      await c.getByText('100%').waitFor();
      await shot(page, '05-log');
    });

    await step('a failing receiver fails the delivery; Retry succeeds after the fix', async () => {
      const c = card(page, url);
      rec.status = 500;
      rec.body = 'boom';
      await publish('UPDATE', picks[1], 1002);
      const row = logRow(c, 1002);
      await waitRowState(row, 'Failed');
      await row.getByRole('button', { name: /1002/ }).click();
      const attempts = row.getByRole('list', { name: 'Attempts' }).getByRole('listitem');
      await eventually(async () => (await attempts.count()) === 3, 'three failed attempts (retry schedule 0s,1s,1s)');
      assert.equal(await attempts.filter({ hasText: 'HTTP 500' }).count(), 3);
      assert.equal(await attempts.first().locator('pre').textContent(), 'boom');
      await shot(page, '06-log-failed');

      rec.status = 200;
      rec.body = 'fixed';
      await row.getByRole('button', { name: 'Retry' }).click();
      await waitRowState(row, 'Succeeded');
      await eventually(async () => (await attempts.count()) === 4, 'a fourth, successful attempt');
      await attempts.last().getByText('HTTP 200').waitFor();
      const d = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks/${hookId}/deliveries?state=succeeded`, { token: env.adminToken });
      assert.ok(d.data.some((x) => String(x.entityId) === '1002'));
      await shot(page, '07-log-retried');
    });

    await step('filter the log by state', async () => {
      const c = card(page, url);
      const log = c.getByRole('region', { name: 'Delivery log' });
      await log.getByLabel('State').selectOption('failed');
      await log.getByText('No failed deliveries.').waitFor();
      await log.getByLabel('State').selectOption('succeeded');
      await logRow(c, 1002).waitFor();
      await log.getByLabel('State').selectOption('');
      await logRow(c, 1001).waitFor();
    });

    await step('rotate the secret and replay', async () => {
      const c = card(page, url);
      await c.getByRole('button', { name: 'Rotate secret' }).click();
      const dlg = page.getByRole('dialog', { name: 'Rotate secret' });
      await dlg.getByRole('button', { name: 'Rotate' }).click();
      const shown = dlg.getByLabel('New secret', { exact: true });
      await shown.waitFor();
      // (The page shows whatever hookd generated; its format is the API's business.)
      assert.match(await shown.inputValue(), /^[^*(\s]{16,}$/, 'the generated secret is shown once, unmasked');
      await dlg.getByRole('button', { name: 'Done' }).click();
      await dlg.waitFor({ state: 'hidden' });

      const before = rec.requests.length;
      await publish('CREATE', picks[2], 1003);
      await waitRowState(logRow(c, 1003), 'Succeeded');
      const r = rec.requests.slice(before).find((x) => x.body.includes('1003'));
      assert.ok(r, 'receiver got event 1003');
      assert.equal(r.headers['webhook-signature'].split(' ').length, 2, 'both secrets sign during the grace period');

      await c.getByRole('button', { name: 'Replay' }).click();
      const rp = page.getByRole('dialog', { name: 'Replay deliveries' });
      await rp.getByLabel('Deliveries').selectOption('succeeded');
      await rp.getByRole('button', { name: 'Replay' }).click();
      await rp.getByText(/queued to be sent again/).waitFor();
      await rp.getByRole('button', { name: 'Done' }).click();
      await rp.waitFor({ state: 'hidden' });
    });

    await step('edit the webhook: change its events; the secret stays', async () => {
      const c = card(page, url);
      await c.getByRole('button', { name: 'Edit' }).click();
      const dlg = page.getByRole('dialog', { name: 'Edit Webhook' });
      await dlg.waitFor();
      assert.equal(await dlg.getByLabel('Payload URL').inputValue(), url);
      assert.equal(await dlg.getByLabel('Secret', { exact: true }).inputValue(), '', 'blank secret means keep');
      const events = dlg.getByRole('group', { name: 'Event' });
      assert.equal(await events.getByRole('checkbox', { name: 'Create', exact: true }).isChecked(), true);
      assert.equal(await events.getByRole('checkbox', { name: 'Update', exact: true }).isChecked(), true);
      for (const n of picks) assert.equal(await dlg.getByRole('checkbox', { name: n, exact: true }).isChecked(), true);
      await events.getByRole('checkbox', { name: 'Update', exact: true }).uncheck();
      await events.getByRole('checkbox', { name: 'Delete', exact: true }).check();
      await events.getByRole('checkbox', { name: 'Archive', exact: true }).check();
      await dlg.getByRole('button', { name: 'Save' }).click();
      await dlg.waitFor({ state: 'hidden' });
      await c.getByText('Create, Delete, Archive').waitFor();

      const w = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks/${hookId}`, { token: env.adminToken });
      assert.deepEqual([...w.events].sort(), ['ARCHIVE', 'CREATE', 'DELETE']);
      assert.deepEqual([...w.entities].sort(), [...picks].sort());

      // The secret was kept: a test message is still signed with the rotated secret.
      rec.status = 200;
      await c.getByRole('button', { name: 'Send test' }).click();
      await c.getByText('Status: HTTP 200').waitFor();
    });

    await step('disable the webhook', async () => {
      const c = card(page, url);
      await c.getByRole('button', { name: 'Disable' }).click();
      await c.getByText('Disabled', { exact: true }).waitFor();
      await c.getByRole('button', { name: 'Enable' }).waitFor();
      const w = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks/${hookId}`, { token: env.adminToken });
      assert.equal(w.enabled, false);
      // A disabled webhook gets no new deliveries.
      await publish('CREATE', picks[0], 1004);
      const d = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks/${hookId}/deliveries?limit=100`, { token: env.adminToken });
      assert.equal(d.data.some((x) => String(x.entityId) === '1004'), false);
    });

    await step('a bad payload URL shows the field error next to Payload URL', async () => {
      await page.getByRole('button', { name: 'Create Webhook' }).click();
      const dlg = page.getByRole('dialog', { name: 'Create Webhook' });
      await dlg.getByLabel('Payload URL').fill('ftp://x');
      await dlg.getByRole('group', { name: 'Event' }).getByRole('checkbox', { name: 'Create', exact: true }).check();
      await dlg.getByRole('switch', { name: 'Send me everything' }).check();
      await dlg.getByRole('button', { name: 'Save' }).click();
      const field = dlg.getByLabel('Payload URL');
      await eventually(async () => (await field.getAttribute('aria-invalid')) === 'true', 'Payload URL marked invalid');
      const error = await field.evaluate((el) => {
        const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/);
        const errEl = ids.map((id) => document.getElementById(id)).find((x) => x && x.classList.contains('field-error'));
        return errEl && {
          text: errEl.textContent,
          sameField: errEl.closest('.field') === el.closest('.field'),
          visible: errEl.checkVisibility(),
        };
      });
      assert.ok(error && error.text.trim().length > 0, 'an error message is attached to the Payload URL field');
      assert.ok(error.sameField && error.visible, 'the error is shown next to the field');
      assert.equal(await field.evaluate((el) => el === document.activeElement), true, 'focus moves to the bad field');
      await shot(page, '08-form-error');
      let list = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks`, { token: env.adminToken });
      assert.equal(list.data.length, 1, 'nothing was created');

      // Fixing the URL clears the error; with the Secret left blank, hookd
      // generates one and the page shows it once.
      await field.fill(url2);
      assert.equal(await field.getAttribute('aria-invalid'), null);
      await dlg.getByRole('button', { name: 'Save' }).click();
      await dlg.waitFor({ state: 'hidden' });
      const c2 = card(page, url2);
      await c2.getByText('Everything', { exact: true }).waitFor();
      const shown = c2.getByLabel('Signing secret');
      assert.match(await shown.inputValue(), /^[^*(\s]{16,}$/, 'the generated secret is shown once, unmasked');
      await c2.getByRole('button', { name: 'Dismiss' }).click();
      await shown.waitFor({ state: 'detached' });
      list = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks`, { token: env.adminToken });
      assert.equal(list.data.length, 2);
    });

    await step('delete the webhooks after confirming', async () => {
      const c2 = card(page, url2);
      await c2.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog', { name: 'Delete webhook?' }).getByRole('button', { name: 'Delete webhook' }).click();
      await c2.waitFor({ state: 'detached' });

      const c = card(page, url);
      await c.getByRole('button', { name: 'Delete' }).click();
      const dlg = page.getByRole('dialog', { name: 'Delete webhook?' });
      await dlg.getByRole('button', { name: 'Cancel' }).click();
      await dlg.waitFor({ state: 'hidden' });
      await c.waitFor();
      await c.getByRole('button', { name: 'Delete' }).click();
      await dlg.getByRole('button', { name: 'Delete webhook' }).click();
      await c.waitFor({ state: 'detached' });
      await page.getByRole('heading', { name: 'No webhooks yet' }).waitFor();
      const r = await call('GET', `/v1/sites/${SITE}/webhooks/${hookId}`, { token: env.adminToken });
      assert.equal(r.status, 404);
    });

    await step('no script errors', async () => {
      assert.deepEqual(page.jsErrors, []);
    });
  } finally {
    await page.context().close();
  }
});

test('narrow window (375 px) and keyboard use', { timeout: 120_000 }, async () => {
  const long = `${env.receiver.url}/a/very/long/path/that/should/wrap/nicely/on/small/screens/${'x'.repeat(60)}?token=abc`;
  await mustCall(201, 'POST', `/v1/sites/${SITE}/webhooks`, {
    token: env.adminToken,
    body: { payloadUrl: long, secret: 'mySecret', events: ['CREATE'], method: 'GET', sendEverything: true, entities: [] },
  });
  const page = await newPage({ width: 375, height: 740 });
  try {
    await page.goto(`${env.base}/admin/`);
    await shot(page, 'narrow-01-sign-in');
    await page.getByLabel('Admin token').fill(env.adminToken);
    await page.keyboard.press('Enter');
    const c = card(page, long);
    await c.waitFor();
    await c.getByText('Everything').waitFor();
    await c.getByText('GET', { exact: true }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 375 px (overflow ${overflow}px)`);
    await shot(page, 'narrow-02-list');

    // Keyboard: Tab reaches "Create Webhook", Enter opens the form with focus
    // in Payload URL, the focus ring is visible, Escape closes the form.
    const create = page.getByRole('button', { name: 'Create Webhook' });
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await create.evaluate((el) => el === document.activeElement);
    }
    assert.ok(reached, 'Tab reaches the Create Webhook button');
    const outline = await create.evaluate((el) => getComputedStyle(el).outlineStyle);
    assert.notEqual(outline, 'none', 'focused button shows a focus ring');
    await page.keyboard.press('Enter');
    const dlg = page.getByRole('dialog', { name: 'Create Webhook' });
    await dlg.waitFor();
    assert.equal(await dlg.getByLabel('Payload URL').evaluate((el) => el === document.activeElement), true);
    const box = await dlg.boundingBox();
    assert.ok(box.width <= 375 && box.x >= 0, 'the form fits the narrow window');
    await dlg.getByRole('group', { name: 'Data points' }).getByRole('checkbox').first().waitFor();
    await shot(page, 'narrow-03-form');
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });

    await c.getByRole('button', { name: 'Delivery log' }).click();
    await c.getByText('No deliveries yet.', { exact: false }).waitFor();

    // A GET webhook: the receiver sees /EVENT/Entity/id before the query string.
    env.receiver.status = 200;
    env.receiver.body = 'narrow ok';
    const before = env.receiver.requests.length;
    await publish('CREATE', 'Agreement', 2001);
    const row = logRow(c, 2001);
    await waitRowState(row, 'Succeeded');
    await row.getByRole('button', { name: /2001/ }).click();
    await row.getByRole('list', { name: 'Attempts' }).getByText('narrow ok').waitFor();
    const got = env.receiver.requests.slice(before).find((r) => r.url.includes('2001'));
    assert.ok(got, 'receiver got event 2001');
    assert.equal(got.method, 'GET');
    assert.match(got.url, /\/CREATE\/Agreement\/2001\?token=abc$/);
    const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow2 <= 0, `no horizontal scrolling with the log open (overflow ${overflow2}px)`);
    await shot(page, 'narrow-04-log');

    // "Load more" pages through the log with nextCursor (the page shows 20 at a time).
    const batch = Array.from({ length: 25 }, (_, i) => ({ event: 'CREATE', entity: 'Room', entityId: 3000 + i }));
    await mustCall(202, 'POST', `/v1/sites/${SITE}/events`, { token: env.publisherToken, body: { events: batch } });
    const log = c.getByRole('region', { name: 'Delivery log' });
    const retries = log.getByRole('button', { name: 'Retry' });
    await log.getByRole('button', { name: 'Refresh' }).click();
    await logRow(c, 3024).waitFor();
    await eventually(async () => (await retries.count()) === 20, 'the first page of 20 deliveries');
    await log.getByRole('button', { name: 'Load more' }).click();
    await eventually(async () => (await retries.count()) === 26, 'all 26 deliveries after Load more');
    await logRow(c, 2001).waitFor();
    await log.getByRole('button', { name: 'Load more' }).waitFor({ state: 'hidden' });
    // Newest first.
    const times = await log.locator('li[data-delivery-id] > .delivery-row time').evaluateAll((els) => els.map((t) => t.getAttribute('datetime')));
    assert.equal(times.length, 26);
    assert.deepEqual(times, [...times].sort().reverse(), 'deliveries are listed newest first');
    assert.deepEqual(page.jsErrors, []);
  } finally {
    await page.context().close();
  }
});

test('receiver check and health at a glance', { timeout: 180_000 }, async (t) => {
  const HOUR = 3600_000;
  const rec = env.receiver;
  rec.status = 200;
  rec.body = 'ok';
  // A webhook no other test publishes to (MailItem only): its history is what we seed.
  const url = `${rec.url}/hooks/ui-health`;
  const w = await mustCall(201, 'POST', `/v1/sites/${SITE}/webhooks`, {
    token: env.adminToken,
    body: { payloadUrl: url, secret: 'healthSecret', events: ['CREATE'], method: 'POST', sendEverything: false, entities: ['MailItem'] },
  });

  // Seed hourly counters as hookd keeps them (table webhook_hours), hours before now.
  // Latency buckets: l3 = (20, 35] ms, l6 = (75, 100] ms, l9 = (250, 500] ms, l12 = (2.5, 5] s.
  const now = Date.now();
  const h0 = now - (now % HOUR);
  const seeded = [
    { ago: 1, succeeded: 10, retried: 2, failed: 1, l3: 6, l6: 5, l9: 2 },
    { ago: 3, succeeded: 4, retried: 0, failed: 0, l3: 4 },
    { ago: 5, succeeded: 1, retried: 0, failed: 2, l6: 1, l12: 2 },
    { ago: 30, succeeded: 7, retried: 0, failed: 0, l3: 7 },
    { ago: 100, succeeded: 3, retried: 0, failed: 0, l3: 3 },
    { ago: 200, succeeded: 99, retried: 0, failed: 0, l3: 99 },  // older than 7 days
  ];
  const sql = ['.timeout 10000', ...seeded.map((x) => {
    const cols = ['webhook_id', 'hour', 'succeeded', 'retried', 'failed'];
    const vals = [`'${w.id}'`, h0 - x.ago * HOUR, x.succeeded, x.retried, x.failed];
    for (const k of ['l3', 'l6', 'l9', 'l12']) if (x[k]) { cols.push(k); vals.push(x[k]); }
    return `INSERT INTO webhook_hours(${cols.join(',')}) VALUES (${vals.join(',')});`;
  })].join('\n');
  const r = spawnSync('sqlite3', [path.join(env.tmp, 'hookd.db')], { input: sql, encoding: 'utf8' });
  assert.equal(r.status, 0, `sqlite3: ${r.stderr}`);
  // The expected bars: one per interval with attempts. 24 h: hours 1, 3 and 5 ago.
  const weekInterval = 6 * HOUR;
  const weekStart = now - (now % weekInterval) - 27 * weekInterval;
  const weekBars = new Set(seeded.map((x) => h0 - x.ago * HOUR).filter((h) => h >= weekStart)
    .map((h) => Math.floor((h - weekStart) / weekInterval))).size;

  const page = await newPage();
  let failed = false;
  const step = (name, fn) => t.test(name, async (st) => {
    if (failed) { st.skip('an earlier step failed'); return; }
    try { await fn(); } catch (e) {
      failed = true;
      await shot(page, `failed-${name.replace(/\W+/g, '-')}`).catch(() => {});
      throw e;
    }
  });
  try {
    const c = card(page, url);

    await step('the list shows a sparkline and the 24-hour success ratio', async () => {
      await signIn(page);
      await c.waitFor();
      // 24 h: 15 succeeded, 2 retried, 3 failed = 20 attempts, 75 %.
      await c.getByText('75%', { exact: true }).waitFor();
      await c.getByText('of 20 attempts').waitFor();
      const spark = c.getByRole('img', { name: /^Attempts per hour over the last 24 hours: 20 attempts: 15 succeeded, 2 retried, 3 failed/ });
      await spark.waitFor();
      assert.equal(await spark.locator('g.spark-bar').count(), 3);
      await shot(page, 'health-01-list');
    });

    await step('Health draws the seeded history: bars per interval, latency, a text summary', async () => {
      await c.getByRole('button', { name: 'Health' }).click();
      const panel = c.getByRole('region', { name: 'Health' });
      await panel.waitFor();
      const bars = panel.getByRole('img', { name: /^Attempts per hour, the last 24 hours/ });
      await bars.waitFor();
      assert.equal(await bars.locator('g.bar').count(), 3, 'one bar per seeded hour in the last 24 hours');
      // The hour 1 h ago is stacked: 10 succeeded, 2 retried, 1 failed.
      const first = bars.locator(`g.bar[data-start="${new Date(h0 - HOUR).toISOString()}"]`);
      assert.equal(await first.getAttribute('data-attempts'), '13');
      assert.equal(await first.locator('rect').count(), 3);
      // Accessible: the chart's description and the visible summary say it in words.
      const summary = panel.locator('.health-summary');
      assert.match(await summary.innerText(), /20 attempts: 15 succeeded, 2 retried, 3 failed \(75% succeeded\)/);
      assert.match(await summary.innerText(), /median \d+ ms, 95th percentile \d/);
      assert.match(await bars.getAttribute('aria-labelledby'), /\S+ \S+/);
      const latency = panel.getByRole('img', { name: /^Latency per hour, the last 24 hours/ });
      assert.equal(await latency.locator('circle.line-p50').count(), 3);
      assert.equal(await latency.locator('circle.line-p95').count(), 3);
      await panel.getByText('Show the numbers').click();
      assert.equal(await panel.getByRole('table').getByRole('row').count(), 1 + 3);
      await shot(page, 'health-02-day');

      await panel.getByRole('radio', { name: 'Last 7 days' }).check();
      const week = panel.getByRole('img', { name: /^Attempts per 6 hours, the last 7 days/ });
      await week.waitFor();
      assert.equal(await week.locator('g.bar').count(), weekBars, 'one bar per 6-hour interval with seeded attempts');
      assert.match(await panel.locator('.health-summary').innerText(), /30 attempts: 25 succeeded, 2 retried, 3 failed/);
      await shot(page, 'health-03-week');
    });

    await step('Check receiver shows PASS and FAIL rows with explanations and guide links', async () => {
      rec.status = 200;  // the UI receiver accepts anything: forged signatures too
      const before = rec.requests.length;
      await c.getByRole('button', { name: 'Check receiver' }).click();
      const check = c.getByRole('region', { name: 'Receiver check' });
      await check.getByRole('table').waitFor();
      const row = (label) => check.getByRole('row', { name: new RegExp(label) });
      assert.match(await row('Valid signature accepted').innerText(), /PASS/);
      const forged = row('Forged signatures refused');
      assert.match(await forged.innerText(), /FAIL/);
      assert.match(await forged.innerText(), /accepts forged signatures/);
      const link = forged.getByRole('link', { name: /Receiver guide/ });
      assert.equal(await link.getAttribute('href'), 'receivers.html#forged-signature');
      assert.match(await row('Old timestamp refused').innerText(), /WARN/);
      assert.equal(await check.getByRole('row').count(), 1 + 6);
      await check.getByText('1 check failed').waitFor();
      assert.equal(rec.requests.length, before + 4, 'valid, forged, stale and the repeat');
      await shot(page, 'check-01-results');
      // The results and the charts fit a narrow window.
      await page.setViewportSize({ width: 375, height: 740 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling at 375 px with the check and the charts open (overflow ${overflow}px)`);
      await shot(page, 'check-03-narrow');
      await page.setViewportSize({ width: 1280, height: 900 });

      // The guide the links point to is served by hookd, one section per check.
      const guide = await newPage();
      try {
        await guide.goto(`${env.base}/admin/receivers.html#forged-signature`);
        await guide.getByRole('heading', { level: 2, name: 'Forged signatures refused' }).waitFor();
        for (const id of ['valid-signature', 'forged-signature', 'stale-timestamp', 'duplicate-delivery', 'response-time', 'tls']) {
          assert.equal(await guide.locator(`section#${id}`).count(), 1, `guide section ${id}`);
        }
        await shot(guide, 'check-02-guide');
        assert.deepEqual(guide.jsErrors, []);
      } finally {
        await guide.context().close();
      }
    });

    await step('a failing webhook is marked, with since when; a success clears it', async () => {
      rec.status = 500;
      await c.getByRole('button', { name: 'Send test' }).click();
      await c.getByText('Test message failed').waitFor();
      await c.locator('.hook-badges').getByText('Failing', { exact: true }).waitFor();
      const since = c.locator('.failing-since');
      await since.waitFor();
      assert.match(await since.innerText(), /Failing since .+ every attempt since then failed/);
      await shot(page, 'health-04-failing');
      rec.status = 200;
      await c.getByRole('button', { name: 'Send test' }).click();
      await c.getByText('Test message delivered').waitFor();
      await since.waitFor({ state: 'hidden' });
    });

    await step('a webhook hookd disabled (410 Gone) is marked, with since when', async () => {
      rec.status = 410;
      await publish('CREATE', 'MailItem', 5001);
      await eventually(async () => {
        const x = await mustCall(200, 'GET', `/v1/sites/${SITE}/webhooks/${w.id}`, { token: env.adminToken });
        return x.enabled === false;
      }, 'the webhook disabled by 410 Gone');
      rec.status = 200;
      await page.reload();
      await c.getByText('Disabled', { exact: true }).waitFor();
      const reason = c.locator('.disabled-reason');
      assert.match(await reason.innerText(), /Disabled: .*410.* \(since .+\)/);
      assert.equal(await reason.evaluate((el) => el.classList.contains('is-bad')), true, 'shown as a problem, not as an admin\'s choice');
      await shot(page, 'health-05-disabled');
    });

    await step('no script errors', async () => {
      assert.deepEqual(page.jsErrors, []);
    });
  } finally {
    await page.context().close();
  }
});

// ------------------------------------------------- operator view: change capture

/** Signs in with the operator token; waits for the service status view. */
async function signInOperator(page, base) {
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Admin token').fill(env.operatorToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Service status' }).waitFor();
}

/** The text of the value (dd) of a fact (dt) in the "Change capture" panel. */
async function captureFact(panel, name) {
  return (await panel.locator('dt', { hasText: new RegExp(`^${name}$`) }).locator('xpath=following-sibling::dd').innerText()).trim();
}

test('operator sees that change capture is off', { timeout: 60_000 }, async () => {
  const page = await newPage();
  try {
    await signInOperator(page, env.base);
    const panel = page.getByRole('region', { name: 'Change capture' });
    await panel.getByText('Change capture is off', { exact: false }).waitFor();
    assert.equal(await panel.getByRole('status').count(), 0, 'no state badge when off');
    // Operators do not get the site admin's webhook list.
    assert.equal(await page.getByRole('heading', { level: 1, name: 'Webhooks' }).isVisible(), false);
    await shot(page, '40-capture-off');
    // The session survives a reload; signing out returns to the sign-in form.
    await page.reload();
    await panel.getByText('Change capture is off', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.deepEqual(page.jsErrors, []);
  } finally {
    await page.context().close();
  }
});

/** Starts a second hookd with --capture SOURCE and a map of one table; returns {base, stop()}. */
async function startCaptureServer(source, map, logName) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookd-ui-capture-'));
  const mapFile = path.join(dir, 'capture.json');
  fs.writeFileSync(mapFile, JSON.stringify(map));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = fs.createWriteStream(path.join(ARTIFACTS, logName));
  const server = spawn(HOOKD_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${path.join(dir, 'hookd.db')}`,
    '--capture', source, '--capture-map', mapFile], {
    cwd: dir, env: { ...process.env, HOOKD_OPERATOR_TOKEN: env.operatorToken }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  const exited = new Promise((resolve) => server.on('exit', resolve));
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await exited;
    log.end();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 'capture hookd up', 30_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base, stop };
}

test('operator sees change capture connecting, with the error in words', { timeout: 60_000 }, async () => {
  // A source that refuses at once (nothing listens on port 1): capture keeps trying, state "connecting".
  const srv = await startCaptureServer('postgresql://hookd@127.0.0.1:1/platform',
    { slot: 'hookd', publication: 'hookd', tables: [{ table: 'public.rooms', entity: 'Room', id: 'room_id', siteId: SITE }] },
    'hookd-capture-refused.log');
  const page = await newPage();
  try {
    await signInOperator(page, srv.base);
    const panel = page.getByRole('region', { name: 'Change capture' });
    await panel.getByRole('status').filter({ hasText: /^Connecting\b/ }).waitFor();
    await panel.getByText(/^Error: cannot connect to the source database/).waitFor();
    assert.equal(await captureFact(panel, 'Slot'), 'hookd');
    assert.equal(await captureFact(panel, 'Confirmed LSN'), 'none yet');
    assert.equal(await captureFact(panel, 'Lag'), 'not known yet');
    assert.equal(await captureFact(panel, 'Changes accepted'), '0');
    await shot(page, '42-capture-connecting');
    assert.deepEqual(page.jsErrors, []);
  } finally {
    await page.context().close();
    await srv.stop();
  }
});

// A streaming source needs PostgreSQL with wal_level=logical (scripts/test.sh sets
// HOOKD_TEST_PG_URL; scripts/pg.sh starts one by hand).
const PG = process.env.HOOKD_TEST_PG_URL;
test('operator sees change capture streaming, its slot, lag and counts', {
  timeout: 120_000, skip: PG ? false : 'HOOKD_TEST_PG_URL is not set (a source PostgreSQL with wal_level=logical)',
}, async () => {
  const psql = (url, sql) => {
    const r = spawnSync('psql', [url, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`psql: ${sql}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const suffix = crypto.randomBytes(5).toString('hex');
  const dbName = `hookd_ui_${suffix}`;
  const slot = `hookd_ui_${suffix}`;
  psql(PG, `CREATE DATABASE ${dbName}`);
  const src = PG.replace(/\/[^/?]*(\?|$)/, `/${dbName}$1`);
  psql(src, 'CREATE TABLE rooms (room_id text PRIMARY KEY, floor int)');
  const srv = await startCaptureServer(src,
    { slot, publication: 'hookd', tables: [{ table: 'public.rooms', entity: 'Room', id: 'room_id', siteId: SITE }] },
    'hookd-capture.log');
  const { base } = srv;
  const page = await newPage();
  try {
    const r = await fetch(`${base}/v1/sites`, { method: 'POST', headers: { Authorization: `Bearer ${env.operatorToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ id: SITE, name: 'UI capture' }) });
    assert.equal(r.status, 201);

    await signInOperator(page, base);
    const panel = page.getByRole('region', { name: 'Change capture' });
    await panel.getByRole('status').filter({ hasText: /^Streaming\b/ }).waitFor();
    assert.equal(await captureFact(panel, 'Slot'), slot);
    assert.equal(await captureFact(panel, 'Publication'), 'hookd');
    assert.match(await captureFact(panel, 'Confirmed LSN'), /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(await captureFact(panel, 'Lag'), /bytes of WAL/);

    psql(src, "INSERT INTO rooms VALUES ('r1', 1), ('r2', 2); INSERT INTO rooms VALUES ('r3', 3)");
    // The panel refreshes by itself (every 3 s).
    await eventually(async () => (await captureFact(panel, 'Changes accepted')) === '3', 'Changes accepted = 3');
    assert.equal(await captureFact(panel, 'Changes skipped'), '0');
    await shot(page, '41-capture-streaming');
    assert.deepEqual(page.jsErrors, []);
  } finally {
    await page.context().close();
    await srv.stop();
    try { psql(src, `SELECT pg_drop_replication_slot('${slot}')`); } catch { /* best effort */ }
    try { psql(PG, `DROP DATABASE ${dbName} WITH (FORCE)`); } catch { /* best effort */ }
  }
});
