// Fault test on PostgreSQL: the database terminates hookd's sessions over and over
// (as a failover, a restart, pg_terminate_backend or a proxy dropping connections
// would) while 8 publishers send batches of 200. Every event answered 202 must be
// delivered; an event whose session died inside its transaction must get a 503, never
// a 202. Publishers retry a failed batch with the same Idempotency-Key, as a careful
// client does, so a commit whose answer was lost is not accepted twice.
// Runs whenever HOOKD_TEST_PG_URL is set (scripts/test.sh starts a cluster).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { after, test } from 'node:test';
import {
  createPgDatabase, createWebhook, listDeliveries, setupSite, sleep, startReceiver, startServer, waitFor,
} from './support.mjs';

const PUBLISHERS = 8;
const BATCH = 200;
const FAULT_MS = Number(process.env.HOOKD_PGFAULT_MS ?? 5000);  // how long sessions are killed
const KILL_EVERY_MS = 30;

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

// One psql session that terminates every other session of `db` each time it is told to.
function startTerminator(adminUrl, db) {
  const psql = spawn('psql', [adminUrl, '-qAt', '-v', 'ON_ERROR_STOP=0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise((r) => psql.on('exit', r));
  let terminated = 0;
  psql.stdout.on('data', (d) => { terminated += String(d).split('\n').filter((l) => l === 't').length; });
  psql.stderr.on('data', () => {});
  const sql = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid();\n`;
  return {
    kill() { psql.stdin.write(sql); },
    get terminated() { return terminated; },
    stop() { if (psql.exitCode === null && !psql.stdin.writableEnded) psql.stdin.end(); return exited; },  // idempotent
  };
}

test('sessions terminated every 30 ms during concurrent ingest: every 202-acknowledged event is delivered',
  { timeout: 240000, skip: !process.env.HOOKD_TEST_PG_URL && 'HOOKD_TEST_PG_URL is not set' }, async (t) => {
    const dbUrl = createPgDatabase();
    const db = dbUrl.replace(/.*\//, '').replace(/\?.*/, '');
    const server = await startServer({ dbUrl, retrySchedule: '0s,200ms,500ms,1s,2s,5s' });
    cleanup.push(() => server.dispose());
    const rx = await startReceiver(async (rec) => {
      try { rec.entityId = JSON.parse(rec.text).entityId; } catch { rec.entityId = undefined; }
      return { status: 200 };
    });
    cleanup.push(() => rx.close());
    const site = await setupSite(server);
    const wh = await createWebhook(site, { payloadUrl: rx.url(), maxInFlight: 32 });

    const accepted = new Set();   // entity ids of 202-acknowledged events
    const stats = { requests: 0, ok: 0, unavailable: 0, other: 0, errors: 0, replayed: 0 };
    let next = 0;
    let publishing = true;
    const publisher = async (p) => {
      for (let n = 0; n < 10000 && publishing; n++) {
        const ids = Array.from({ length: BATCH }, () => `f${next++}`);
        const events = ids.map((entityId, i) => ({ event: 'CREATE', entity: i % 2 ? 'Room' : 'Agreement', entityId }));
        const key = `pub${p}-${crypto.randomBytes(6).toString('hex')}`;
        // The same batch with the same key until it is acknowledged (bounded).
        for (let attempt = 0; attempt < 50; attempt++) {
          stats.requests += 1;
          let r;
          try {
            r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { events },
              { headers: { 'idempotency-key': key }, timeoutMs: 15000 });
          } catch {
            stats.errors += 1;
            await sleep(20);
            continue;
          }
          if (r.status === 202) {
            stats.ok += 1;
            if (r.headers['idempotent-replayed']) stats.replayed += 1;
            assert.equal(r.json.ids.length, BATCH);
            for (const id of ids) accepted.add(id);
            break;
          }
          if (r.status === 503) {
            stats.unavailable += 1;
            assert.ok(r.headers['retry-after'], '503 carries Retry-After');
          } else {
            stats.other += 1;
          }
          await sleep(10);
          if (!publishing) break;
        }
      }
    };
    const publishers = Array.from({ length: PUBLISHERS }, (_, p) => publisher(p));

    const term = startTerminator(process.env.HOOKD_TEST_PG_URL, db);
    cleanup.push(() => term.stop());
    const end = Date.now() + FAULT_MS;
    while (Date.now() < end) {
      term.kill();
      await sleep(KILL_EVERY_MS);
    }
    publishing = false;
    await Promise.all(publishers);
    await sleep(200);
    const terminated = term.terminated;
    await term.stop();

    // First the store: every acknowledged event has its delivery row (a lost commit shows
    // here at once, without waiting for the deliveries).
    const rows = new Set((await listDeliveries(site, wh.id)).map((d) => String(d.entityId)));
    const noRow = [...accepted].filter((id) => !rows.has(id));
    assert.equal(noRow.length, 0, `${noRow.length} of ${accepted.size} acknowledged events have no delivery `
      + `(lost), e.g. ${noRow.slice(0, 10).join(',')}; publishers: ${JSON.stringify(stats)}`);

    const arrived = new Set();
    let missing = [];
    await waitFor(() => {
      for (const r of rx.succeeded) if (r.entityId !== undefined) arrived.add(r.entityId);
      missing = [...accepted].filter((id) => !arrived.has(id));
      return missing.length === 0;
    }, 150000, {
      interval: 500,
      message: `all ${accepted.size} acknowledged events delivered`,
      describe: () => `missing ${missing.length}, e.g. ${missing.slice(0, 10).join(',')}; log:\n${server.logTail(20)}`,
    });
    const summary = `pgfault: ${terminated} sessions terminated in ${FAULT_MS} ms; ${stats.requests} publish requests `
      + `(${stats.ok} 202, ${stats.replayed} of them replayed, ${stats.unavailable} 503, ${stats.other} other, `
      + `${stats.errors} transport errors); ${accepted.size} events acknowledged, all delivered `
      + `(${rx.succeeded.length} receiver answers)`;
    t.diagnostic(summary);
    console.log(summary);
    assert.ok(terminated > 50, `sessions were really terminated (${terminated})`);
    assert.ok(accepted.size > 0, 'some events were acknowledged');
    assert.ok(stats.unavailable + stats.errors > 0, 'the faults were felt by the publishers');
  });
