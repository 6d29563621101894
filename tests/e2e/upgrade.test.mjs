// Upgrading: today's hookd starts on a database the previous schema's hookd made
// (tests/fixtures/previous-schema.*, written by tests/fixtures/make_previous_schema.sh
// from the commit before the webhook `version` column), migrates it on start, and serves
// everything in it: sites, tokens, webhooks (secrets decrypt with the same master key),
// deliveries with their attempts; then new work, and an update of a migrated webhook.
// SQLite always; PostgreSQL when HOOKD_TEST_PG_URL is set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  REPO_ROOT, createPgDatabase, legacySignature, listDeliveries, makeTempDir, removeTempDir, runHookd, show,
  startReceiver, startServer, waitFor,
} from './support.mjs';

const T = { timeout: 90000 };
const FIXTURES = path.join(REPO_ROOT, 'tests', 'fixtures');
const meta = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'previous-schema.json'), 'utf8'));
const servers = [];
const receivers = [];
const dirs = [];
after(async () => {
  for (const s of servers) await s.dispose();
  for (const r of receivers) await r.close();
  for (const d of dirs) removeTempDir(d);
});

async function checkUpgraded(server, fx) {
  // Sites and every kind of token.
  const sites = await server.api(meta.operatorToken).get('/v1/sites');
  assert.equal(sites.status, 200, show(sites));
  assert.deepEqual(sites.json.data.map((s) => s.id), [fx.site]);
  const admin = server.api(fx.adminToken);
  const site = { siteId: fx.site, admin, publisher: server.api(fx.publisherToken) };
  const me = await admin.get('/v1/me');
  assert.equal(me.json.role, 'admin', show(me));

  // Webhooks and their history: the first one's deliveries succeeded, the second's failed
  // after two attempts (a closed port).
  for (const w of fx.webhooks) {
    const r = await admin.get(`/v1/sites/${fx.site}/webhooks/${w.id}`);
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.method, w.method);
    assert.equal(r.json.description, w.description);
    const deliveries = await listDeliveries(site, w.id);
    assert.ok(deliveries.length >= 2, `${w.id}: deliveries kept (${deliveries.length})`);
    for (const d of deliveries) {
      assert.equal(d.state, w.state, `${d.id} is ${w.state}`);
      assert.ok(fx.events.includes(d.eventId), `${d.id}: its event is one of the fixture's`);
      assert.equal(d.traceparent, null, `${d.id}: its event is from before trace context (migration 7)`);
      const full = await admin.get(`/v1/sites/${fx.site}/deliveries/${d.id}`);
      assert.equal(full.status, 200, show(full));
      assert.equal(full.json.attempts.length, w.state === 'succeeded' ? 1 : 2, `${d.id}: attempts kept`);
    }
  }

  // An update of a migrated webhook (the new version column) and its secret still
  // decrypting: a test message to a receiver here, signed with the fixture's secret.
  const rx = await startReceiver({ status: 200 });
  receivers.push(rx);
  const [w1, w2] = fx.webhooks;
  const p = await admin.patch(`/v1/sites/${fx.site}/webhooks/${w1.id}`, { payloadUrl: rx.url('/after-upgrade') });
  assert.equal(p.status, 200, show(p));
  const t = await admin.post(`/v1/sites/${fx.site}/webhooks/${w1.id}/test`, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
  assert.equal(t.status, 200, show(t));
  assert.equal(rx.requests.length, 1);
  assert.equal(rx.requests[0].headers['x-ioffice-signature'], legacySignature(w1.secret, 'CREATE', 'Agreement', '25'));
  const p2 = await admin.patch(`/v1/sites/${fx.site}/webhooks/${w2.id}`, { payloadUrl: rx.url('/second') });
  assert.equal(p2.status, 200, show(p2));
  const t2 = await admin.post(`/v1/sites/${fx.site}/webhooks/${w2.id}/test`, { event: 'CREATE', entity: 'Room', entityId: 7 });
  assert.equal(t2.status, 200, show(t2));
  assert.equal(rx.requests[1].headers['x-ioffice-signature'], legacySignature(w2.secret, 'CREATE', 'Room', '7'));

  // New events are accepted and delivered.
  const e = await site.publisher.post(`/v1/sites/${fx.site}/events`, { event: 'UPDATE', entity: 'Room', entityId: 'after-upgrade' });
  assert.equal(e.status, 202, show(e));
  await waitFor(() => rx.requests.some((r) => r.text.includes('after-upgrade')), 10000, { message: 'a new event delivered' });
  // ... with a trace of its own (a new event stores one); the old ones were sent without.
  const fresh = rx.requests.find((r) => r.text.includes('after-upgrade'));
  assert.match(fresh.headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
}

// The fixture's history is older than the default retention: keep it.
const serveArgs = ['--retention', '36500d'];

test('SQLite: a database of the previous schema is migrated on start and served whole', T, async () => {
  assert.equal(meta.sqlite.schemaVersion, '4');
  const dir = makeTempDir('hookd-upgrade');
  dirs.push(dir);
  const db = path.join(dir, 'hookd.db');
  const load = spawnSync('sqlite3', [db], { input: fs.readFileSync(path.join(FIXTURES, 'previous-schema.sqlite.sql')), encoding: 'utf8' });
  assert.equal(load.status, 0, load.stderr);
  const version = () => spawnSync('sqlite3', [db, 'PRAGMA user_version'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(version(), '4');
  const server = await startServer({
    dir, operatorToken: meta.operatorToken, env: { HOOKD_MASTER_KEY: meta.masterKey }, extraArgs: serveArgs,
  });
  servers.push(server);
  await checkUpgraded(server, meta.sqlite);
  await server.stop();
  const m = runHookd(['migrate', '--db', `sqlite:${db}`]);
  assert.equal(m.code, 0, m.stderr);
  // serve migrated to the current schema: migrate reports it and finds nothing to do.
  const current = /schema version (\d+)/.exec(m.stdout)?.[1];
  assert.ok(current && Number(current) > Number(meta.sqlite.schemaVersion), m.stdout);
  assert.equal(version(), current, 'migrated to the current schema by serve');
});

test('PostgreSQL: a database of the previous schema is migrated on start and served whole', {
  ...T, skip: process.env.HOOKD_TEST_PG_URL ? false : 'HOOKD_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)',
}, async () => {
  const url = createPgDatabase();
  const load = spawnSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', url, '-f', path.join(FIXTURES, 'previous-schema.pg.sql')], { encoding: 'utf8' });
  assert.equal(load.status, 0, load.stderr);
  const version = () => spawnSync('psql', ['-qtA', url, '-c', 'SELECT max(version) FROM schema_migrations'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(version(), meta.postgres.schemaVersion);
  const server = await startServer({
    dbUrl: url, operatorToken: meta.operatorToken, env: { HOOKD_MASTER_KEY: meta.masterKey }, extraArgs: serveArgs,
  });
  servers.push(server);
  await checkUpgraded(server, meta.postgres);
  await server.stop();
  // serve migrated to the current schema: a migrate afterwards has nothing left to do.
  const m = runHookd(['migrate', '--db', url]);
  assert.equal(m.code, 0, m.stderr);
  const current = /schema version (\d+)/.exec(m.stdout)?.[1];
  assert.ok(current && Number(current) > Number(meta.postgres.schemaVersion), m.stdout);
  assert.equal(version(), current, 'migrated to the current schema');
});
