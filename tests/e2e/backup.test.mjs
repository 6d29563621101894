// `hookd backup` (SQLite online backup) and the restore documented in docs/operations.md:
// a backup taken while hookd serves a steady load of events opens in a fresh `hookd serve`
// with the same sites, tokens, webhooks (secrets decrypt with the same master key) and
// delivery history, and holds exactly the events acknowledged up to one moment.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  createWebhook, freePort, legacySignature, listDeliveries, makeTempDir, removeTempDir, runHookd, setupSite,
  show, startReceiver, startServer, waitFor,
} from './support.mjs';

const T = { timeout: 120000 };
const dirs = [];
const servers = [];
const receivers = [];
after(async () => {
  for (const s of servers) await s.dispose();
  for (const r of receivers) await r.close();
  for (const d of dirs) removeTempDir(d);
});

function fmt(r) {
  return `exit=${r.code} signal=${r.signal} stdout=${JSON.stringify(r.stdout.slice(0, 800))} stderr=${JSON.stringify(r.stderr.slice(0, 800))}`;
}

/** Runs hookd without blocking the event loop (the load goes on meanwhile). */
function runHookdAsync(args) {
  return new Promise((resolve) => {
    const p = spawn(process.env.HOOKD_BIN ?? path.resolve('build/hookd'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test('a backup taken under load restores: same sites, tokens, webhooks, secrets and history', T, async () => {
  const dir = makeTempDir('hookd-backup');
  dirs.push(dir);
  const ok = await startReceiver({ status: 200 });
  const failing = await startReceiver({ status: 500 });
  receivers.push(ok, failing);
  for (const d of ['a-logs', 'b-logs']) fs.mkdirSync(path.join(dir, d));
  const a = await startServer({ dir: path.join(dir, 'a-logs'), dbPath: path.join(dir, 'a', 'hookd.db'), retrySchedule: '0s,1s,1s' });
  servers.push(a);
  const site = await setupSite(a);
  const other = await setupSite(a);
  const w1 = await createWebhook(site, { payloadUrl: ok.url('/one'), secret: 'backup-secret-one', description: 'ok receiver' });
  const w2 = await createWebhook(site, {
    payloadUrl: failing.url('/two'), secret: 'backup-secret-two', method: 'GET', sendEverything: false,
    entities: ['Agreement'], events: ['CREATE'],
  });
  const w3 = await createWebhook(other, { payloadUrl: ok.url('/three'), secret: 'backup-secret-three' });

  // Load: batches of 20 events, one request after another, until stopped. Each batch
  // remembers when its request was sent and when its 202 came back.
  const batches = [];
  let stop = false;
  let n = 0;
  const load = (async () => {
    while (!stop) {
      const events = [];
      for (let i = 0; i < 20; i++) events.push({ event: 'CREATE', entity: 'Agreement', entityId: ++n });
      const sentAt = Date.now();
      const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { events });
      assert.equal(r.status, 202, show(r));
      batches.push({ sentAt, ackedAt: Date.now(), ids: r.json.ids });
    }
  })();
  await waitFor(() => batches.length >= 20, 20000, { message: '20 batches acknowledged before the backup' });
  // History worth keeping: some deliveries already succeeded, some failed attempts.
  await waitFor(() => ok.requests.length >= 100 && failing.requests.length >= 10, 20000, { message: 'attempts before the backup' });

  const backupFile = path.join(dir, 'hookd-backup.db');
  const started = Date.now();
  const b = await runHookdAsync(['backup', '--db', `sqlite:${a.dbPath}`, '--to', backupFile]);
  const finished = Date.now();
  await waitFor(() => batches.some((x) => x.sentAt > finished), 10000, { message: 'a batch sent after the backup finished' });
  stop = true;
  await load;
  assert.equal(b.code, 0, fmt(b));
  // The load really ran during the copy: some batch was under way while the backup ran.
  assert.ok(batches.some((x) => x.ackedAt >= started && x.sentAt <= finished), 'events published during the backup');
  assert.match(b.stdout, /backup of sqlite:.* written to .*hookd-backup\.db in \d+ ms: \d+ pages .* schema version \d+: 2 sites, 3 webhooks, \d+ deliveries/, fmt(b));
  assert.match(b.stdout, /master key is not in it/, fmt(b));
  assert.equal(fs.statSync(backupFile).mode & 0o777, 0o600, 'the backup is readable by its owner only');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('partial')), [], 'no partial file left');
  const check = spawnSync('sqlite3', [backupFile, 'PRAGMA integrity_check; PRAGMA journal_mode;'], { encoding: 'utf8' });
  assert.equal(check.stdout.trim(), 'ok\ndelete', `integrity_check and a self-contained file: ${check.stdout} ${check.stderr}`);

  // Restore = the backup file as the database of a fresh hookd serve, with the same master key.
  const restoreDir = path.join(dir, 'b');
  fs.mkdirSync(restoreDir);
  fs.copyFileSync(backupFile, path.join(restoreDir, 'hookd.db'));
  fs.copyFileSync(path.join(dir, 'a', 'master.key'), path.join(restoreDir, 'master.key'));
  await a.stop();
  const bsrv = await startServer({ dir: path.join(dir, 'b-logs'), dbPath: path.join(restoreDir, 'hookd.db'), retrySchedule: '0s,1s,1s' });
  servers.push(bsrv);

  // Sites and tokens: the operator sees both sites, the admin and publisher tokens still work.
  const sites = await bsrv.api().get('/v1/sites');
  assert.equal(sites.status, 200, show(sites));
  const ids = sites.json.data.map((s) => s.id);
  assert.ok(ids.includes(site.siteId) && ids.includes(other.siteId), `sites restored: ${ids}`);
  const admin = bsrv.api(site.adminToken);
  const restored = { ...site, admin, publisher: bsrv.api(site.publisherToken) };
  for (const w of [w1, w2]) {
    const r = await admin.get(`/v1/sites/${site.siteId}/webhooks/${w.id}`);
    assert.equal(r.status, 200, show(r));
    for (const k of ['payloadUrl', 'events', 'method', 'sendEverything', 'entities', 'description', 'secret', 'createdAt']) {
      assert.deepEqual(r.json[k], w[k], `${w.id} ${k} restored`);
    }
  }
  assert.equal((await bsrv.api(other.adminToken).get(`/v1/sites/${other.siteId}/webhooks/${w3.id}`)).status, 200);

  // History: exactly the events acknowledged up to one moment between the backup's start
  // and its end; everything acknowledged before it started is there.
  const deliveries = await listDeliveries(restored, w1.id);
  const have = new Set(deliveries.map((d) => d.eventId));
  const before = batches.filter((x) => x.ackedAt < started).flatMap((x) => x.ids);
  const afterEnd = batches.filter((x) => x.sentAt > finished).flatMap((x) => x.ids);
  for (const id of before) assert.ok(have.has(id), `event ${id}, acknowledged before the backup started, is in it`);
  for (const id of afterEnd) assert.ok(!have.has(id), `event ${id}, sent after the backup finished, is not in it`);
  // A batch is one transaction: all of its deliveries or none.
  for (const x of batches) {
    const inside = x.ids.filter((id) => have.has(id)).length;
    assert.ok(inside === 0 || inside === x.ids.length, `batch of ${x.ids.length} restored whole or not at all (${inside})`);
  }
  const succeeded = deliveries.filter((d) => d.state === 'succeeded');
  assert.ok(succeeded.length >= 50, `succeeded deliveries kept (${succeeded.length})`);
  const one = await admin.get(`/v1/sites/${site.siteId}/deliveries/${succeeded[0].id}`);
  assert.equal(one.status, 200, show(one));
  assert.equal(one.json.attempts.length, 1, 'attempts restored');
  assert.equal(one.json.attempts[0].status, 200);
  const failed = await listDeliveries(restored, w2.id);
  assert.ok(failed.some((d) => d.attemptCount > 0), 'failed attempts restored');

  // Secrets decrypt with the same master key: a test message is signed with each secret.
  ok.clear();
  const t1 = await admin.post(`/v1/sites/${site.siteId}/webhooks/${w1.id}/test`, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
  assert.equal(t1.status, 200, show(t1));
  const req = ok.requests.find((r) => r.path === '/one' && r.text.includes('"entityId":25') && r.headers['webhook-id'] === t1.json.deliveryId);
  assert.ok(req, 'the test message reached the receiver');
  assert.equal(req.headers['x-ioffice-signature'], legacySignature('backup-secret-one', 'CREATE', 'Agreement', '25'));
  const t2 = await admin.post(`/v1/sites/${site.siteId}/webhooks/${w2.id}/test`, { event: 'CREATE', entity: 'Agreement', entityId: 7 });
  assert.equal(t2.status, 200, show(t2));
  const req2 = failing.requests.find((r) => r.path === '/two/CREATE/Agreement/7');
  assert.ok(req2, 'the GET test message reached its receiver');
  assert.equal(req2.headers['x-ioffice-signature'], legacySignature('backup-secret-two', 'CREATE', 'Agreement', '7'));

  // New work goes on in the restored server.
  const p = await restored.publisher.post(`/v1/sites/${site.siteId}/events`, { event: 'UPDATE', entity: 'Room', entityId: 'after-restore' });
  assert.equal(p.status, 202, show(p));
  await waitFor(() => ok.requests.some((r) => r.text.includes('after-restore')), 10000, { message: 'a new event delivered after the restore' });
  await bsrv.stop();

  // Without the master key the backup's secrets cannot be read: hookd refuses to start.
  const wrong = path.join(dir, 'c');
  fs.mkdirSync(wrong);
  fs.copyFileSync(backupFile, path.join(wrong, 'hookd.db'));
  const port = await freePort();
  const r = runHookd(['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${path.join(wrong, 'hookd.db')}`], { timeoutMs: 15000 });
  assert.notEqual(r.code, 0, fmt(r));
  assert.equal(r.signal, null, fmt(r));
  assert.match(r.stdout + r.stderr, /master key/i, fmt(r));
});

test('hookd backup: a copy of a stopped database, --config, and clear refusals', T, async () => {
  const dir = makeTempDir('hookd-backup-cli');
  dirs.push(dir);
  const srv = await startServer({ dir });
  const site = await setupSite(srv);
  await createWebhook(site, { payloadUrl: 'http://127.0.0.1:9/x' });
  await srv.stop();

  // The database's folder is read from the config file, like serve does.
  const conf = path.join(dir, 'hookd.conf');
  fs.writeFileSync(conf, `db = sqlite:${srv.dbPath}\nlisten = 127.0.0.1:1\nlog-format = json\n`);
  const to = path.join(dir, 'copy.db');
  const r = runHookd(['backup', '--config', conf, '--to', to]);
  assert.equal(r.code, 0, fmt(r));
  assert.match(r.stdout, /1 sites, 1 webhooks/, fmt(r));

  const again = runHookd(['backup', '--db', `sqlite:${srv.dbPath}`, '--to', to]);
  assert.equal(again.code, 2, fmt(again));
  assert.match(again.stderr, /already exists/, fmt(again));

  const pg = runHookd(['backup', '--db', 'postgresql://hookd@127.0.0.1:1/hookd', '--to', path.join(dir, 'pg.db')]);
  assert.equal(pg.code, 2, fmt(pg));
  assert.match(pg.stderr, /pg_dump/, fmt(pg));

  const missing = runHookd(['backup', '--db', `sqlite:${path.join(dir, 'nope.db')}`, '--to', path.join(dir, 'x.db')]);
  assert.equal(missing.code, 2, fmt(missing));
  assert.match(missing.stderr, /does not exist/, fmt(missing));
  assert.ok(!fs.existsSync(path.join(dir, 'x.db')));

  const notHookd = path.join(dir, 'other.db');
  spawnSync('sqlite3', [notHookd, 'CREATE TABLE t(x);']);
  const bad = runHookd(['backup', '--db', `sqlite:${notHookd}`, '--to', path.join(dir, 'y.db')]);
  assert.equal(bad.code, 1, fmt(bad));
  assert.match(bad.stderr, /not a hookd database/, fmt(bad));
  assert.ok(!fs.existsSync(path.join(dir, 'y.db')), 'nothing left behind');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('partial')), [], 'no partial file left');
});
