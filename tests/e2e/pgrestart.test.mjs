// A real PostgreSQL restart under load (issue 13): two hookd nodes share a cluster of
// their own (scripts/pg.sh, so the shared test cluster is left alone); while publishers
// send batches through both nodes, the server is restarted with a fast shutdown (every
// session cut, the server gone for a moment, then back on the same port). The nodes
// lose their ownership sessions and partitions, reconnect and take them again.
// Every event answered 202 is delivered, and no delivery is ever in flight twice at once.
// Publishers retry a failed batch with the same Idempotency-Key, as a careful client does.
// Runs whenever HOOKD_TEST_PG_URL is set (the PostgreSQL binaries are installed then).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { createWebhook, setupSite, sleep, startReceiver, startServer, waitFor } from './support.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PG_SH = path.join(ROOT, 'scripts', 'pg.sh');
const skip = process.env.HOOKD_TEST_PG_URL ? false : 'HOOKD_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)';
const BATCH = 50;
const PUBLISHERS = 4;

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

function pgsh(...args) {
  return execFileSync(PG_SH, args, { encoding: 'utf8', timeout: 120000 }).trim();
}

test('a PostgreSQL restart mid-run loses nothing and nothing is in flight twice', { skip, timeout: 240000 }, async (t) => {
  const clusterDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookd-pgrestart-'));
  const admin = pgsh('start', clusterDir);
  cleanup.push(() => pgsh('stop', clusterDir));
  execFileSync('psql', [admin, '-qc', 'CREATE DATABASE hookd'], { encoding: 'utf8' });
  const dbUrl = admin.replace(/\/[^/]*$/, '/hookd');

  const masterKey = crypto.randomBytes(32).toString('hex');
  const operatorToken = `op_${crypto.randomBytes(16).toString('hex')}`;
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const node = await startServer({
      dbUrl, operatorToken, env: { HOOKD_MASTER_KEY: masterKey }, retrySchedule: '0s,500ms,1s,2s,5s',
      extraArgs: ['--node-id', `r${i}`],
    });
    nodes.push(node);
    cleanup.push(() => node.dispose());
  }

  const open = new Map();
  let overlaps = 0;
  const arrived = new Set();
  const rx = await startReceiver(async (rec) => {
    const id = rec.headers['webhook-id'];
    if (open.get(id)) overlaps += 1;
    open.set(id, (open.get(id) ?? 0) + 1);
    let entityId;
    try { entityId = JSON.parse(rec.text).entityId; } catch { /* counted as missing */ }
    await sleep(1 + Math.floor(Math.random() * 4));
    open.set(id, open.get(id) - 1);
    arrived.add(entityId);
    return { status: 200 };
  });
  cleanup.push(() => rx.close());

  const site = await setupSite(nodes[0]);
  // Several webhooks, so both nodes own some of the work.
  for (let i = 0; i < 4; i++) await createWebhook(site, { payloadUrl: rx.url(`/h${i}`), maxInFlight: 8, entities: [] });

  const accepted = new Set();
  const stats = { ok: 0, unavailable: 0, errors: 0, other: 0 };
  let next = 0;
  let publishing = true;
  const publisher = async (p) => {
    const api = nodes[p % nodes.length].api(site.publisherToken);
    for (let n = 0; n < 2000 && publishing; n++) {
      const ids = Array.from({ length: BATCH }, () => `r${next++}`);
      const events = ids.map((entityId) => ({ event: 'CREATE', entity: 'Room', entityId }));
      const key = `pub${p}-${crypto.randomBytes(6).toString('hex')}`;
      for (let attempt = 0; attempt < 100; attempt++) {
        let r;
        try {
          r = await api.post(`/v1/sites/${site.siteId}/events`, { events }, { headers: { 'idempotency-key': key }, timeoutMs: 15000 });
        } catch {
          stats.errors += 1;
          await sleep(50);
          continue;
        }
        if (r.status === 202) {
          stats.ok += 1;
          for (const id of ids) accepted.add(id);
          break;
        }
        if (r.status === 503) stats.unavailable += 1; else stats.other += 1;
        await sleep(50);
      }
      await sleep(5);
    }
  };
  const running = Array.from({ length: PUBLISHERS }, (_, p) => publisher(p));

  await sleep(1500);
  const before = accepted.size;
  pgsh('restart', clusterDir);
  await sleep(3000);
  publishing = false;
  await Promise.all(running);
  assert.ok(before > 0, 'events were accepted before the restart');
  assert.ok(accepted.size > before, `events were accepted after the restart (${before} → ${accepted.size})`);

  // Each event goes to 4 webhooks; one arrival per entity id is enough to know it got
  // through, and the delivery rows below check that every webhook got every event.
  let missing = [];
  await waitFor(() => {
    missing = [...accepted].filter((id) => !arrived.has(id));
    return missing.length === 0;
  }, 120000, {
    interval: 500,
    message: `all ${accepted.size} acknowledged events delivered after the restart`,
    describe: () => `missing ${missing.length}, e.g. ${missing.slice(0, 10).join(',')}; publishers ${JSON.stringify(stats)}`,
  });
  let pending = -1;
  await waitFor(() => {
    const out = execFileSync('psql', [dbUrl, '-Atc', 'SELECT count(*) FROM deliveries WHERE state = 0'], { encoding: 'utf8' });
    pending = Number(out.trim());
    return pending === 0;
  }, 120000, { interval: 500, message: 'no delivery left pending', describe: () => `${pending} pending` });
  const total = Number(execFileSync('psql', [dbUrl, '-Atc', "SELECT count(*) FROM deliveries WHERE state = 1"], { encoding: 'utf8' }).trim());
  assert.equal(total, accepted.size * 4, 'every webhook succeeded for every acknowledged event');
  assert.equal(overlaps, 0, 'no delivery was in flight twice at the same time');
  const summary = `pgrestart: ${accepted.size} events acknowledged (${before} before the restart), all delivered to 4 webhooks; `
    + `publishers ${JSON.stringify(stats)}`;
  t.diagnostic(summary);
  console.log(summary);
});
