// Receiver checks (SPEC.md §11, issue 16): `hookd check-receiver` and
// POST /v1/sites/{site}/webhooks/{id}/check against real loopback receivers that
// verify correctly, accept anything, verify only the legacy header, refuse
// duplicates and answer slowly, plus an https receiver whose certificate is not
// trusted. The correct receiver verifies webhook-signature with the
// `standardwebhooks` npm package, as docs/receivers.md tells receivers to.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import {
  HOOKD_BIN, SECRET, createWebhook, legacySignature, listDeliveries, makeTempDir, removeTempDir, setupSite, show,
  startReceiver, useServer,
} from './support.mjs';

const T = { timeout: 60000 };
const NAMES = ['valid-signature', 'forged-signature', 'stale-timestamp', 'duplicate-delivery', 'response-time', 'tls'];

// --------------------------------------------------------------- receivers

/** The event, entity, id and signed payload of a request (POST body or GET path). */
function parse(rec) {
  if (rec.method === 'POST') {
    const b = JSON.parse(rec.text);
    return { event: b.event, entity: b.entity, id: String(b.entityId), payload: rec.text };
  }
  const segs = rec.path.split('/').slice(-3);
  const [event, entity, id] = segs.map(decodeURIComponent);
  return { event, entity, id, payload: `/${segs.join('/')}` };
}

function legacyValid(secret, rec, p) {
  const want = Buffer.from(legacySignature(secret, p.event, p.entity, p.id), 'hex');
  const got = Buffer.from(String(rec.headers['x-ioffice-signature'] ?? ''), 'hex');
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

/**
 * A receiver program. verify: 'both' (webhook-signature with the standardwebhooks package,
 * which refuses timestamps over 5 minutes away, and x-ioffice-signature), 'legacy' (only
 * x-ioffice-signature) or 'none'. refuseDuplicates: 409 for a webhook-id seen before.
 */
function program({ verify = 'both', refuseDuplicates = false, delayMs = 0, secret = SECRET } = {}) {
  const wh = new Webhook(Buffer.from(secret).toString('base64'));
  const seen = new Set();
  return (rec) => {
    let ok = true;
    if (verify !== 'none') {
      const p = parse(rec);
      ok = legacyValid(secret, rec, p);
      if (verify === 'both') {
        try { wh.verify(p.payload, rec.headers, { jsonParse: false }); } catch { ok = false; }
      }
    }
    if (!ok) return { status: 401, body: 'bad signature', delayMs };
    const id = rec.headers['webhook-id'];
    if (seen.has(id) && refuseDuplicates) return { status: 409, body: 'duplicate', delayMs };
    seen.add(id);
    return { status: 204, body: '', delayMs };
  };
}

// ---------------------------------------------------------------- the CLI

/** Runs `hookd check-receiver ...args` without blocking this process (its receivers must answer). */
function checkReceiver(args, timeoutMs = 45000) {
  return new Promise((resolve) => {
    const p = spawn(HOOKD_BIN, ['check-receiver', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').filter(Boolean);
      const checks = {};
      for (const l of lines) {
        const m = /^(PASS|WARN|FAIL) ([a-z-]+): (.+)$/.exec(l);
        if (m) checks[m[2]] = { result: m[1], detail: m[3] };
      }
      resolve({ code, signal, stdout, stderr, lines, checks });
    });
  });
}

const fmt = (r) => `exit=${r.code} stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

function assertResults(r, expected) {
  assert.deepEqual(Object.keys(r.checks), NAMES, `one line per check, in order: ${fmt(r)}`);
  assert.equal(r.lines.length, NAMES.length, `nothing else on stdout: ${fmt(r)}`);
  for (const [name, result] of Object.entries(expected)) {
    assert.equal(r.checks[name].result, result, `${name}: ${fmt(r)}`);
  }
}

const ALL_PASS = Object.fromEntries(NAMES.map((n) => [n, 'PASS']));

describe('hookd check-receiver', () => {
  const receivers = [];
  let dir;
  const receiver = async (spec, opts) => {
    const r = await startReceiver(spec, opts);
    receivers.push(r);
    return r;
  };
  before(() => { dir = makeTempDir('hookd-check'); });
  after(async () => {
    for (const r of receivers) await r.close();
    removeTempDir(dir);
  });

  test('a receiver that verifies correctly passes every check (POST), exit 0', T, async () => {
    const rx = await receiver(program());
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network']);
    assert.equal(r.code, 0, fmt(r));
    assertResults(r, ALL_PASS);
    // The same wire format as deliveries: four signed POSTs; the valid one is repeated with its webhook-id.
    assert.equal(rx.requests.length, 4);
    for (const q of rx.requests) {
      assert.equal(q.method, 'POST');
      assert.equal(q.path, '/hooks');
      assert.deepEqual(JSON.parse(q.text), { event: 'CREATE', entity: 'Agreement', entityId: 'test' });
      assert.equal(q.headers['content-type'], 'application/json');
      assert.match(q.headers['user-agent'], /^hookd\//);
      assert.match(q.headers['webhook-id'], /^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.match(q.headers['webhook-signature'], /^v1,/);
      assert.match(q.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'trace context, as deliveries have');
    }
    const ids = rx.requests.map((q) => q.headers['webhook-id']);
    assert.equal(new Set(ids).size, 3, 'one webhook-id is used twice');
    const stale = rx.requests.filter((q) => Number(q.headers['webhook-timestamp']) < Date.now() / 1000 - 500);
    assert.equal(stale.length, 1, 'one probe has a 10-minute-old timestamp');
    assert.match(r.stderr, /0 failed, 0 warnings/);
  });

  test('GET puts the event in the path, and is signed over it', T, async () => {
    const rx = await receiver(program());
    const r = await checkReceiver([rx.url('/hooks?key=1'), '--secret', SECRET, '--method', 'GET', '--allow-private-network',
      '--event', 'UPDATE', '--entity', 'Room', '--entity-id', '42']);
    assert.equal(r.code, 0, fmt(r));
    assertResults(r, ALL_PASS);
    assert.equal(rx.requests.length, 4);
    for (const q of rx.requests) {
      assert.equal(q.method, 'GET');
      assert.equal(q.url, '/hooks/UPDATE/Room/42?key=1');
      assert.equal(q.text, '');
    }
  });

  test('a receiver that accepts anything fails: accepts forged signatures, exit 1', T, async () => {
    const rx = await receiver(program({ verify: 'none' }));
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network']);
    assert.equal(r.code, 1, fmt(r));
    assertResults(r, { 'valid-signature': 'PASS', 'forged-signature': 'FAIL', 'stale-timestamp': 'WARN', 'duplicate-delivery': 'PASS' });
    assert.match(r.checks['forged-signature'].detail, /^accepts forged signatures/);
    assert.match(r.stderr, /1 failed, 1 warnings/);
  });

  test('a receiver that verifies only the legacy header: replay protection missing, and it says why', T, async () => {
    const rx = await receiver(program({ verify: 'legacy' }));
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network']);
    assert.equal(r.code, 0, `a warning is not a failure: ${fmt(r)}`);
    assertResults(r, { 'valid-signature': 'PASS', 'forged-signature': 'PASS', 'stale-timestamp': 'WARN', 'duplicate-delivery': 'PASS' });
    assert.match(r.checks['stale-timestamp'].detail, /replay protection/);
    assert.match(r.checks['stale-timestamp'].detail, /x-ioffice-signature has no timestamp/);
  });

  test('a receiver that refuses duplicates: retries would look like failures', T, async () => {
    const rx = await receiver(program({ refuseDuplicates: true }));
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network']);
    assert.equal(r.code, 0, fmt(r));
    assertResults(r, { 'valid-signature': 'PASS', 'forged-signature': 'PASS', 'stale-timestamp': 'PASS', 'duplicate-delivery': 'WARN' });
    assert.match(r.checks['duplicate-delivery'].detail, /HTTP 409 "duplicate"/);
    assert.match(r.checks['duplicate-delivery'].detail, /retr/);
  });

  test('a receiver that answers slowly (5.5 s): a warning with the time', { timeout: 90000 }, async () => {
    const rx = await receiver(program({ delayMs: 5500 }));
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network'], 60000);
    assert.equal(r.code, 0, fmt(r));
    assertResults(r, { 'valid-signature': 'PASS', 'forged-signature': 'PASS', 'stale-timestamp': 'PASS', 'duplicate-delivery': 'PASS', 'response-time': 'WARN' });
    assert.match(r.checks['response-time'].detail, /answered in 5\.\d s/);
  });

  test('a refused valid delivery fails with the status and the first bytes of the answer', T, async () => {
    const rx = await receiver(program({ secret: 'anotherSecret' }));
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network']);
    assert.equal(r.code, 1, fmt(r));
    assertResults(r, { 'valid-signature': 'FAIL', 'forged-signature': 'WARN', 'stale-timestamp': 'WARN', 'duplicate-delivery': 'WARN' });
    assert.match(r.checks['valid-signature'].detail, /HTTP 401 "bad signature"/);
    assert.equal(rx.requests.length, 3, 'nothing to repeat');
  });

  test('--json prints one JSON document with the same results', T, async () => {
    const rx = await receiver(program({ verify: 'none' }));
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network', '--json']);
    assert.equal(r.code, 1, fmt(r));
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.url, rx.url('/hooks'));
    assert.equal(doc.method, 'POST');
    assert.equal(doc.passed, false);
    assert.deepEqual(doc.checks.map((c) => c.name), NAMES);
    assert.deepEqual(doc.checks.map((c) => c.result), ['PASS', 'FAIL', 'WARN', 'PASS', 'PASS', 'PASS']);
    for (const c of doc.checks) assert.ok(c.detail.length > 5);
  });

  test('the address guard applies: a loopback receiver needs --allow-private-network', T, async () => {
    const rx = await receiver(program());
    const r = await checkReceiver([rx.url('/hooks'), '--secret', SECRET]);
    assert.equal(r.code, 1, fmt(r));
    assert.equal(r.checks['valid-signature'].result, 'FAIL');
    assert.match(r.checks['valid-signature'].detail, /address guard/);
    assert.equal(rx.requests.length, 0, 'nothing was sent');
  });

  test('https: an untrusted certificate fails with the reason; with --ca-file it is verified', T, async () => {
    const cnf = path.join(dir, 'self.cnf');
    fs.writeFileSync(cnf, ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', 'CN = localhost', '[ext]',
      'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1, DNS:localhost', ''].join('\n'));
    execFileSync('openssl', ['req', '-x509', '-config', cnf, '-extensions', 'ext', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-keyout', 'self.key', '-out', 'self.pem'], { cwd: dir, stdio: 'ignore' });
    const tls = { key: fs.readFileSync(path.join(dir, 'self.key')), cert: fs.readFileSync(path.join(dir, 'self.pem')) };
    const rx = await receiver(program(), { tls });
    const untrusted = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network']);
    assert.equal(untrusted.code, 1, fmt(untrusted));
    assert.equal(untrusted.checks.tls.result, 'FAIL', fmt(untrusted));
    assert.match(untrusted.checks.tls.detail, /certificate/i);
    assert.equal(untrusted.checks['valid-signature'].result, 'FAIL');
    assert.equal(rx.requests.length, 0);

    const trusted = await checkReceiver([rx.url('/hooks'), '--secret', SECRET, '--allow-private-network',
      '--ca-file', path.join(dir, 'self.pem')]);
    assert.equal(trusted.code, 0, fmt(trusted));
    assertResults(trusted, ALL_PASS);
    assert.equal(trusted.checks.tls.detail, 'certificate verified');
  });

  test('bad arguments exit 2 with a message', T, async () => {
    for (const args of [['http://127.0.0.1:9/x', '--secret', SECRET, '--method', 'PUT'],
      ['ftp://127.0.0.1/x', '--secret', SECRET],
      ['http://127.0.0.1:9/x', '--secret', SECRET, '--timeout', '5m'],
      ['http://127.0.0.1:9/x']]) {
      const r = await checkReceiver(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${fmt(r)}`);
      assert.ok(r.stderr.length > 0, fmt(r));
    }
  });
});

// ---------------------------------------------------------------- the API

describe('POST /v1/sites/{site}/webhooks/{id}/check', () => {
  const { server, receiver } = useServer();
  let a;
  let b;
  before(async () => {
    a = await setupSite(server);
    b = await setupSite(server);
  });

  const checkPath = (site, id) => `/v1/sites/${site.siteId}/webhooks/${id}/check`;

  test('runs the checks against the webhook\'s URL, method and secret', T, async () => {
    const good = await receiver(program({ secret: 'hookSecret' }));
    const wh = await createWebhook(a, {
      payloadUrl: good.url('/in'), secret: 'hookSecret', method: 'GET', events: ['UPDATE', 'DELETE'],
      sendEverything: false, entities: ['Room'],
    });
    const r = await a.admin.post(checkPath(a, wh.id), undefined, { timeoutMs: 40000 });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.webhookId, wh.id);
    assert.equal(r.json.url, good.url('/in'));
    assert.equal(r.json.method, 'GET');
    assert.equal(r.json.passed, true, show(r));
    assert.deepEqual(r.json.checks.map((c) => [c.name, c.result]), NAMES.map((n) => [n, 'PASS']));
    assert.equal(good.requests.length, 4);
    for (const q of good.requests) assert.equal(q.url, '/in/UPDATE/Room/test', 'the webhook\'s first event and entity');
    // Nothing is recorded as a delivery; the audit log says who checked.
    assert.deepEqual(await listDeliveries(a, wh.id), []);
    const audit = await a.admin.get(`/v1/sites/${a.siteId}/audit`);
    assert.ok(audit.json.data.some((e) => e.action === 'webhook.check' && e.target === wh.id && e.detail.passed === true), audit.text);
  });

  test('a careless receiver: FAIL rows and passed false', T, async () => {
    const careless = await receiver(program({ verify: 'none' }));
    const wh = await createWebhook(a, { payloadUrl: careless.url('/in') });
    const r = await a.admin.post(checkPath(a, wh.id), {}, { timeoutMs: 40000 });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.passed, false);
    const forged = r.json.checks.find((c) => c.name === 'forged-signature');
    assert.equal(forged.result, 'FAIL');
    assert.match(forged.detail, /accepts forged signatures/);
  });

  test('a hanging receiver: FAIL after the webhook\'s timeout; at most 4 checks at once, then 429', T, async () => {
    const hanging = await receiver({ hang: true });
    const wh = await createWebhook(a, { payloadUrl: hanging.url('/slow'), timeoutMs: 1000 });
    const started = Date.now();
    const all = await Promise.all(Array.from({ length: 5 }, () => a.admin.post(checkPath(a, wh.id), undefined, { timeoutMs: 30000 })));
    const statuses = all.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 429], all.map(show).join('\n'));
    const busy = all.find((r) => r.status === 429);
    assert.match(busy.headers['retry-after'] ?? '', /^\d+$/);
    const done = all.find((r) => r.status === 200).json;
    const valid = done.checks.find((c) => c.name === 'valid-signature');
    assert.equal(valid.result, 'FAIL');
    assert.match(valid.detail, /no answer within the timeout \(1\.0 s\)/);
    assert.ok(Date.now() - started < 15000, 'the probes time out with the webhook');
  });

  test('admin of the site only; another site\'s webhook is 404; options are refused', T, async () => {
    const rx = await receiver(program());
    const wh = await createWebhook(a, { payloadUrl: rx.url('/in') });
    const other = await createWebhook(b, { payloadUrl: rx.url('/other') });
    assert.equal((await server.api(null).post(checkPath(a, wh.id))).status, 401);
    assert.equal((await a.publisher.post(checkPath(a, wh.id))).status, 403);
    assert.equal((await server.api().post(checkPath(a, wh.id))).status, 403, 'operator');
    assert.equal((await b.admin.post(checkPath(a, wh.id))).status, 403, 'admin of another site');
    const cross = await a.admin.post(checkPath(a, other.id));
    assert.equal(cross.status, 404, show(cross));
    assert.equal((await a.admin.post(checkPath(a, `wh_${'0'.repeat(26)}`))).status, 404);
    const opts = await a.admin.post(checkPath(a, wh.id), { method: 'POST' });
    assert.equal(opts.status, 422, show(opts));
    assert.equal(rx.requests.length, 0, 'none of those sent anything');
  });
});
