// Secrets at rest (issue 4): the database file holds no secret in clear, a wrong master
// key stops `hookd serve` at startup with a clear message, and `hookd rekey` moves every
// secret to a new key.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  HookdServer, createPgDatabase, createWebhook, headerHasSignature, legacySignature, makeTempDir, publish,
  removeTempDir, runHookd, setupSite, standardSignature, startReceiver, startServer, waitFor,
} from './support.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

test('no secret in clear on disk; wrong key refused at startup; rekey', { timeout: 30000 }, async () => {
  const server = await startServer({ dbUrl: undefined, dbPath: undefined });
  cleanup.push(() => server.dispose());
  if (!server.dbUrl.startsWith('sqlite:')) return;
  const site = await setupSite(server);
  const secret = `s3cret-${crypto.randomBytes(8).toString('hex')}`;
  const hook = await createWebhook(site, { payloadUrl: 'https://example.com/hook', secret });
  await server.stop();

  const files = fs.readdirSync(server.dir).filter((f) => f.startsWith('hookd.db'));
  const bytes = Buffer.concat(files.map((f) => fs.readFileSync(path.join(server.dir, f))));
  assert.ok(!bytes.includes(Buffer.from(secret)), 'the secret is not stored in clear');
  const keyFile = path.join(server.dir, 'master.key');
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'the generated key file is private');

  // A wrong key: hookd refuses to start and says why.
  const wrong = runHookd(['serve', '--listen', '127.0.0.1:0', '--db', server.dbUrl], {
    env: { HOOKD_MASTER_KEY: crypto.randomBytes(32).toString('hex') }, timeoutMs: 10000,
  });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr + wrong.stdout, /master key does not match/);

  // rekey: afterwards only the new key opens the database.
  const newKey = path.join(server.dir, 'new.key');
  const r = runHookd(['rekey', '--db', server.dbUrl, '--new-key-file', newKey], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  const old = runHookd(['serve', '--listen', '127.0.0.1:0', '--db', server.dbUrl], { timeoutMs: 10000 });
  assert.notEqual(old.code, 0, 'the old key no longer opens it');
  assert.match(old.stderr + old.stdout, /master key does not match/);
  fs.copyFileSync(newKey, keyFile);
  await server.start();
  const again = await server.api(site.adminToken).get(`/v1/sites/${site.siteId}/webhooks/${hook.id}`);
  assert.equal(again.status, 200);
});

// Issue 12, point 7: rekey on both stores. A webhook mid-rotation carries two sealed
// secrets (the new one and the old one kept for the grace period); after a rekey both
// still sign, only the new master key opens the database, and the old one is refused.
const PG = process.env.HOOKD_TEST_PG_URL;
for (const store of ['sqlite', 'postgresql']) {
  const skip = store === 'postgresql' && !PG
    ? 'HOOKD_TEST_PG_URL is not set (scripts/test.sh starts a PostgreSQL cluster)' : false;
  test(`rekey on ${store}: deliveries are signed with the same secrets afterwards; the old key is refused`,
    { skip, timeout: 60000 }, async () => {
      const rx = await startReceiver();
      cleanup.push(() => rx.close());
      // Defaults as an operator has them: serve and rekey run in the same folder, the
      // master key where serve put it (next to the SQLite file, or ./data for PostgreSQL).
      const dir = makeTempDir(`hookd-rekey-${store}`);
      cleanup.push(() => removeTempDir(dir));
      const server = new HookdServer(store === 'postgresql'
        ? { dir, dbUrl: createPgDatabase() } : { dir, dbPath: path.join(dir, 'hookd.db') });
      cleanup.push(() => server.dispose());
      await server.start();
      const site = await setupSite(server);
      const oldSecret = `old-${crypto.randomBytes(8).toString('hex')}`;
      const secret = `new-${crypto.randomBytes(8).toString('hex')}`;
      const hook = await createWebhook(site, { payloadUrl: rx.url(), secret: oldSecret });
      const rot = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${hook.id}/rotate-secret`,
        { secret, graceSeconds: 3600 });
      assert.equal(rot.status, 200, rot.text);
      await server.stop();

      const keyFile = store === 'postgresql' ? path.join(server.dir, 'data', 'master.key') : path.join(server.dir, 'master.key');
      assert.ok(fs.existsSync(keyFile), `serve kept its key in ${keyFile}`);
      const oldKey = fs.readFileSync(keyFile, 'utf8');
      const newKey = path.join(server.dir, 'new.key');
      const r = runHookd(['rekey', '--db', server.dbUrl, '--new-key-file', newKey], { cwd: server.dir, timeoutMs: 20000 });
      assert.equal(r.code, 0, `rekey: exit=${r.code} ${r.stderr}${r.stdout}`);
      assert.notEqual(fs.readFileSync(newKey, 'utf8'), oldKey, 'a new key was generated');

      // The old key no longer opens the database: serve refuses to start, and so does
      // a second rekey from it.
      const old = runHookd(['serve', '--listen', '127.0.0.1:0', '--db', server.dbUrl], { cwd: server.dir, timeoutMs: 20000 });
      assert.notEqual(old.code, 0, `serve with the old key: ${old.stderr}${old.stdout}`);
      assert.match(old.stderr + old.stdout, /master key does not match/);
      const again = runHookd(['rekey', '--db', server.dbUrl, '--new-key-file', path.join(server.dir, 'third.key')],
        { cwd: server.dir, timeoutMs: 20000 });
      assert.notEqual(again.code, 0, `rekey with the old key: ${again.stderr}`);
      assert.match(again.stderr, /master key does not match/);
      assert.ok(!fs.existsSync(path.join(server.dir, 'third.key')), 'a refused rekey creates no key file');

      // With the new key: the same secrets sign a delivery.
      server.extraArgs = [...server.extraArgs, '--master-key-file', newKey];
      await server.start();
      await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
      await waitFor(() => rx.requests.length >= 1, 15000, { message: 'a delivery after the rekey' });
      const q = rx.requests[0];
      assert.equal(q.headers['x-ioffice-signature'], legacySignature(secret, 'CREATE', 'Agreement', 25),
        'signed with the current secret');
      const h = q.headers['webhook-signature'];
      for (const s of [secret, oldSecret]) {
        assert.ok(headerHasSignature(h, standardSignature(s, q.headers['webhook-id'], q.headers['webhook-timestamp'], q.text)),
          `webhook-signature carries ${s === secret ? 'the current' : 'the rotated-out'} secret's signature: ${h}`);
      }
    });
}
