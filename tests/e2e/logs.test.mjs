// Structured logs (--log-format json, HOOKD_LOG_FORMAT) and what a log line must never
// hold: a token, a webhook secret, the master key or the metrics token, at any level.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  createWebhook, makeTempDir, publish, rawRequest, removeTempDir, setupSite, show, startReceiver, startServer,
  waitFor,
} from './support.mjs';

const T = { timeout: 90000 };
const servers = [];
const receivers = [];
const dirs = [];
after(async () => {
  for (const s of servers) await s.dispose();
  for (const r of receivers) await r.close();
  for (const d of dirs) removeTempDir(d);
});

function readLines(server) {
  return fs.readFileSync(server.logPath, 'utf8').split('\n').filter((l) => l.length > 0);
}

/** Every line one JSON object with time, level, message; returns the parsed records. */
function parseJsonLines(lines) {
  return lines.map((l) => {
    let o;
    try { o = JSON.parse(l); } catch (e) { assert.fail(`not one JSON object: ${JSON.stringify(l)} (${e.message})`); }
    assert.equal(typeof o, 'object', l);
    assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `time: ${l}`);
    assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(o.level), `level: ${l}`);
    assert.equal(typeof o.message, 'string', `message: ${l}`);
    return o;
  });
}

function assertNoSecrets(lines, secrets) {
  for (const [what, value] of Object.entries(secrets)) {
    assert.ok(value && value.length >= 8, `${what} is a real value`);
    const hit = lines.find((l) => l.includes(value));
    assert.equal(hit, undefined, `the ${what} appears in a log line: ${hit}`);
  }
  // Tokens hookd makes are hkd_ + 43 base64url characters: none in any form.
  const token = lines.find((l) => /hkd_[A-Za-z0-9_-]{20,}/.test(l));
  assert.equal(token, undefined, `a token in a log line: ${token}`);
}

test('json logs at trace level: one object a line, ids as fields, no secret anywhere', T, async () => {
  const masterKey = crypto.randomBytes(32).toString('hex');
  const metricsToken = `metrics-${crypto.randomBytes(12).toString('hex')}`;
  const ok = await startReceiver({ status: 200 });
  const gone = await startReceiver({ status: 410 });
  receivers.push(ok, gone);
  const server = await startServer({
    extraArgs: ['--log-level', 'trace', '--metrics-token', metricsToken],
    env: { HOOKD_LOG_FORMAT: 'json', HOOKD_MASTER_KEY: masterKey },
  });
  servers.push(server);
  const site = await setupSite(server);
  const secrets = {
    'operator token': server.operatorToken,
    'admin token': site.adminToken,
    'publisher token': site.publisherToken,
    'metrics token': metricsToken,
    'master key (hex)': masterKey,
    'master key (base64)': Buffer.from(masterKey, 'hex').toString('base64'),
    'webhook secret': 'log-test-secret-one',
    'second webhook secret': 'log-test-secret-two',
    'rotated secret': 'log-test-secret-rotated',
    'patched secret': 'log-test-secret-patched',
  };
  const w1 = await createWebhook(site, { payloadUrl: ok.url('/ok'), secret: secrets['webhook secret'] });
  const w2 = await createWebhook(site, { payloadUrl: gone.url('/gone'), secret: secrets['second webhook secret'] });
  await publish(site, [{ event: 'CREATE', entity: 'Agreement', entityId: 1 }, { event: 'UPDATE', entity: 'Room', entityId: 'r-1' }]);
  await waitFor(() => ok.requests.length >= 2 && gone.requests.length >= 1, 10000, { message: 'deliveries' });
  const rot = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${w1.id}/rotate-secret`, { secret: secrets['rotated secret'], graceSeconds: 60 });
  assert.equal(rot.status, 200, show(rot));
  const patch = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${w1.id}`, { secret: secrets['patched secret'] });
  assert.equal(patch.status, 200, show(patch));
  const t = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${w1.id}/test`, {});
  assert.equal(t.status, 200, show(t));
  // Wrong tokens are refused without being logged either.
  const wrong = `hkd_${crypto.randomBytes(32).toString('base64url')}`;
  assert.equal((await rawRequest(server.baseUrl, 'GET', '/v1/me', { headers: { authorization: `Bearer ${wrong}` } })).status, 401);
  assert.equal((await rawRequest(server.baseUrl, 'GET', '/metrics', { headers: { authorization: `Bearer ${wrong}` } })).status, 401);
  assert.equal((await rawRequest(server.baseUrl, 'GET', '/metrics', { headers: { authorization: `Bearer ${metricsToken}` } })).status, 200);
  await server.stop();

  const lines = readLines(server);
  const records = parseJsonLines(lines);
  assert.ok(records.some((r) => r.message.startsWith('hookd 0.') && r.message.includes('listening on')), 'start-up line');
  assert.ok(records.some((r) => r.message === 'stopped'), 'the last line of a drain');
  const disabled = records.find((r) => r.level === 'warning' && r.message.includes('410 Gone'));
  assert.ok(disabled, `the 410 disable is logged: ${lines.join('\n')}`);
  assert.equal(disabled.webhook, w2.id, 'its webhook id is a field');
  assert.equal(disabled.site, site.siteId, 'its site is a field');
  assertNoSecrets(lines, { ...secrets, 'refused token': wrong });
});

test('the generated operator token never reaches the log, even when its file cannot be written', T, async () => {
  const dir = makeTempDir('hookd-logs');
  dirs.push(dir);
  // A folder where the token file should go: writing it fails.
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(path.join(dataDir, 'operator-token'), { recursive: true });
  const server = await startServer({ dir, dbPath: path.join(dataDir, 'hookd.db'), env: { HOOKD_OPERATOR_TOKEN: '' } });
  servers.push(server);
  await server.stop();
  const lines = readLines(server);
  assert.ok(lines.some((l) => /operator token: could not write .*operator-token; none created/.test(l)), lines.join('\n'));
  assertNoSecrets(lines, {});

  // Text format (the default) with a writable folder: the path is logged, never the token.
  fs.rmSync(path.join(dataDir, 'operator-token'), { recursive: true });
  await server.start();
  await server.stop();
  const token = fs.readFileSync(path.join(dataDir, 'operator-token'), 'utf8').trim();
  assert.match(token, /^hkd_/);
  const text = readLines(server);
  assert.ok(text.some((l) => /^\[\d{4}-\d\d-\d\d [\d:.]+\] \[info\] operator token: created and written to /.test(l)), text.join('\n'));
  assertNoSecrets(text, { 'generated operator token': token });
});

test('--operator-token-file: the token from a file is accepted and its source logged, not its value', T, async () => {
  const dir = makeTempDir('hookd-logs-file');
  dirs.push(dir);
  const token = `file-token-${crypto.randomBytes(16).toString('hex')}`;
  const file = path.join(dir, 'operator-token.secret');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  const server = await startServer({ dir, operatorToken: token, env: { HOOKD_OPERATOR_TOKEN: '' }, extraArgs: ['--operator-token-file', file] });
  servers.push(server);
  const me = await server.api(token).get('/v1/me');
  assert.equal(me.status, 200, show(me));
  assert.equal(me.json.role, 'operator');
  await server.stop();
  const lines = readLines(server);
  assert.ok(lines.some((l) => l.includes(`operator token: from ${file}`)), lines.join('\n'));
  assertNoSecrets(lines, { 'operator token': token });
});
