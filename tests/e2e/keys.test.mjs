// Secrets at rest (issue 4): the database file holds no secret in clear, a wrong master
// key stops `hookd serve` at startup with a clear message, and `hookd rekey` moves every
// secret to a new key.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { createWebhook, runHookd, setupSite, startServer } from './support.mjs';

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
