// Several hookd nodes on one PostgreSQL (issue 5): thousands of events submitted across
// three nodes, one node killed with SIGKILL halfway. Every accepted event is delivered,
// no delivery is ever in flight on two nodes at once, and the per-webhook in-flight
// limit holds across nodes. Also: `hookd migrate --from sqlite:… --to postgresql://…`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { after, test } from 'node:test';
import {
  createPgDatabase, createWebhook, listDeliveries, publish, runHookd, setupSite, sleep, startReceiver,
  startServer, waitFor,
} from './support.mjs';

const PG = process.env.HOOKD_TEST_PG_URL;
const skip = PG ? false : 'HOOKD_TEST_PG_URL is not set (scripts/test.sh starts a PostgreSQL cluster)';
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

/** Three nodes on a fresh database with one master key; stopped after the file's tests. */
async function startNodes(prefix, { retrySchedule, extraArgs = [] } = {}) {
  const dbUrl = createPgDatabase();
  const masterKey = crypto.randomBytes(32).toString('hex');
  const operatorToken = `op_${crypto.randomBytes(16).toString('hex')}`;
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const node = await startServer({
      dbUrl, operatorToken, env: { HOOKD_MASTER_KEY: masterKey }, retrySchedule,
      extraArgs: [...extraArgs, '--node-id', `${prefix}${i}`],
    });
    nodes.push(node);
    cleanup.push(() => node.dispose());
  }
  return nodes;
}

test('three nodes share the work; a node killed halfway loses nothing and no delivery overlaps', { skip, timeout: 120000 }, async (t) => {
  const nodes = await startNodes('n', { retrySchedule: '0s,1s,2s,5s', extraArgs: ['--lease', '3s'] });
  // Receiver: detects a webhook-id arriving while the same id is still being answered.
  const open = new Map();
  let overlaps = 0;
  const seen = new Map();
  const rx = await startReceiver(async (rec) => {
    const id = rec.headers['webhook-id'];
    if (open.get(id)) overlaps += 1;
    open.set(id, (open.get(id) ?? 0) + 1);
    try { rec.entityId = JSON.parse(rec.text).entityId; } catch { /* counted as missing */ }
    await sleep(2 + Math.floor(Math.random() * 10));
    open.set(id, open.get(id) - 1);
    seen.set(rec.entityId, (seen.get(rec.entityId) ?? 0) + 1);
    return { status: 200 };
  });
  cleanup.push(() => rx.close());

  const site = await setupSite(nodes[0]);
  await createWebhook(site, { payloadUrl: rx.url('/hooks'), maxInFlight: 4 });
  const publishers = nodes.map((n) => ({ ...site, publisher: n.api(site.publisherToken) }));

  const TOTAL = 3000;
  const BATCH = 25;
  const accepted = [];
  let next = 1;
  let killedAt = null;
  for (let b = 0; next <= TOTAL; b++) {
    const alive = killedAt ? [0, 2] : [0, 1, 2];
    const n = alive[b % alive.length];
    const events = [];
    for (let k = 0; k < BATCH && next <= TOTAL; k++, next++) {
      events.push({ event: 'CREATE', entity: 'Agreement', entityId: next });
    }
    await publish(publishers[n], events);
    for (const e of events) accepted.push(e.entityId);
    if (!killedAt && next > TOTAL / 2) {
      await nodes[1].kill9();
      killedAt = Date.now();
    }
  }
  await waitFor(() => accepted.every((id) => seen.has(id)), 60000, {
    message: 'every accepted event delivered',
    describe: () => `missing ${accepted.filter((id) => !seen.has(id)).length} of ${accepted.length}`,
  });
  const duplicates = [...seen.values()].reduce((a, c) => a + c - 1, 0);
  t.diagnostic(`accepted ${accepted.length}, duplicates ${duplicates} (${(100 * duplicates / accepted.length).toFixed(2)} %), ` +
    `max concurrent at the receiver ${rx.maxConcurrent}, overlaps ${overlaps}`);
  assert.equal(overlaps, 0, 'a delivery was in flight on two nodes at once');
  assert.ok(rx.maxConcurrent <= 4, `the webhook's maxInFlight (4) held across nodes (saw ${rx.maxConcurrent})`);
});

test('migrate --from sqlite --to postgresql copies a deployment, pending deliveries included', { skip, timeout: 60000 }, async () => {
  const masterKey = crypto.randomBytes(32).toString('hex');
  const operatorToken = `op_${crypto.randomBytes(16).toString('hex')}`;
  const lite = await startServer({ operatorToken, env: { HOOKD_MASTER_KEY: masterKey }, dbPath: undefined, dbUrl: undefined });
  cleanup.push(() => lite.dispose());
  const down = await startReceiver({ status: 503 });
  cleanup.push(() => down.close());
  const site = await setupSite(lite);
  const hook = await createWebhook(site, { payloadUrl: down.url('/hooks') });
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await publish(site, [1, 2, 3].map((id) => ({ event: 'CREATE', entity: 'Room', entityId: id })), { headers: { traceparent } });
  await waitFor(async () => (await listDeliveries(site, hook.id)).every((d) => d.attemptCount >= 1), 10000,
    { message: 'first attempts made' });
  await lite.stop();
  if (!lite.dbUrl.startsWith('sqlite:')) return;  // the suite runs on PostgreSQL already

  const dbUrl = createPgDatabase();
  const r = runHookd(['migrate', '--from', lite.dbUrl, '--to', dbUrl], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /copied \d+ rows/);
  // The same tokens and webhook work on the new home, and the pending deliveries go out.
  const pg = await startServer({ dbUrl, operatorToken, env: { HOOKD_MASTER_KEY: masterKey } });
  cleanup.push(() => pg.dispose());
  down.program({ status: 200 });
  const moved = { ...site, admin: pg.api(site.adminToken) };
  await waitFor(async () => (await listDeliveries(moved, hook.id)).every((d) => d.state === 'succeeded'), 20000,
    { message: 'pending deliveries delivered after the move' });
  // Their events' trace context moved with them (events.traceparent, migration 7).
  for (const d of await listDeliveries(moved, hook.id)) assert.equal(d.traceparent, traceparent, d.id);
  assert.ok(down.requests.slice(-3).every((r) => r.headers.traceparent?.startsWith('00-4bf92f3577b34da6a3ce929d0e0e4736-')));
  // A second copy into a non-empty database is refused.
  const again = runHookd(['migrate', '--from', lite.dbUrl, '--to', dbUrl], { timeoutMs: 30000 });
  assert.notEqual(again.code, 0);
});

test('a webhook rate limit holds across nodes', { skip, timeout: 60000 }, async (t) => {
  const nodes = await startNodes('r');
  const rx = await startReceiver({ status: 200 });
  cleanup.push(() => rx.close());
  const site = await setupSite(nodes[0]);
  await createWebhook(site, { payloadUrl: rx.url('/hooks'), rateLimitPerSecond: 10 });
  const N = 40;
  const t0 = Date.now();
  for (let i = 0; i < 4; i++) {
    const pub = { ...site, publisher: nodes[i % 3].api(site.publisherToken) };
    await publish(pub, Array.from({ length: N / 4 }, (_, k) => ({ event: 'CREATE', entity: 'Room', entityId: i * 100 + k })));
  }
  await waitFor(() => rx.succeeded.length >= N, 30000, { message: `${N} deliveries` });
  const took = Date.now() - t0;
  t.diagnostic(`${N} deliveries at 10/s across 3 nodes took ${took} ms`);
  // A full bucket (10) then 10/s: the other 30 need about 3 s. Three independent
  // per-node buckets would have needed only about 1 s.
  assert.ok(took >= 2500, `the cluster sent ${N} in ${took} ms, faster than 10/s allows`);
});

/** This node's queue partitions, from its /metrics (null when it does not answer). */
async function partitionsOwned(node) {
  try {
    const r = await node.api().get('/metrics', { auth: false, timeoutMs: 3000 });
    const m = /^hookd_partitions_owned (\d+)$/m.exec(r.text);
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

function psqlValue(url, sql) {
  const r = spawnSync('psql', [url, '-qAtc', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.trim();
}

// Partitioned ownership (SPEC §8): a node joining mid-run takes its share with no
// overlap; the owner of a busy webhook killed with SIGKILL is replaced at once by the
// others and by a node started under a new name; every accepted event is delivered,
// none in flight on two nodes at once. The takeover gap is reported (the bench records
// it; it is not asserted as a timing beyond a loose bound).
test('a node joins mid-run and a killed owner is taken over at once: nothing lost, nothing overlaps',
  { skip, timeout: 180000 }, async (t) => {
    const dbUrl = createPgDatabase();
    const masterKey = crypto.randomBytes(32).toString('hex');
    const operatorToken = `op_${crypto.randomBytes(16).toString('hex')}`;
    const start = async (name) => {
      const node = await startServer({
        dbUrl, operatorToken, env: { HOOKD_MASTER_KEY: masterKey }, retrySchedule: '0s,500ms,1s,2s,5s',
        extraArgs: ['--node-id', name],
      });
      cleanup.push(() => node.dispose());
      return node;
    };
    const live = [await start('p0'), await start('p1')];
    const open = new Map();
    let overlaps = 0;
    const seen = new Map();  // entityId -> arrivals
    const arrivalsByHook = new Map();  // path -> [time]
    const rx = await startReceiver(async (rec) => {
      const id = rec.headers['webhook-id'];
      if (open.get(id)) overlaps += 1;
      open.set(id, (open.get(id) ?? 0) + 1);
      let entityId;
      try { entityId = JSON.parse(rec.text).entityId; } catch { /* counted as missing */ }
      await sleep(1 + Math.floor(Math.random() * 4));
      open.set(id, open.get(id) - 1);
      const key = `${rec.path}:${entityId}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      const list = arrivalsByHook.get(rec.path) ?? [];
      list.push(Date.now());
      arrivalsByHook.set(rec.path, list);
      return { status: 200 };
    });
    cleanup.push(() => rx.close());
    const site = await setupSite(live[0]);
    const hooks = [];
    for (let i = 0; i < 8; i++) hooks.push(await createWebhook(site, { payloadUrl: rx.url(`/w${i}`), maxInFlight: 4 }));

    const accepted = [];
    let next = 1;
    let publishing = true;
    const publisher = (async () => {
      for (let b = 0; publishing && b < 100000; b++) {
        const node = live[b % live.length];
        const events = Array.from({ length: 5 }, () => ({ event: 'CREATE', entity: 'Room', entityId: next++ }));
        try {
          const r = await node.api(site.publisherToken).post(`/v1/sites/${site.siteId}/events`, { events }, { timeoutMs: 5000 });
          if (r.status === 202) for (const e of events) accepted.push(e.entityId);
        } catch { /* a node being killed: not acknowledged */ }
        await sleep(20);
      }
    })();

    await sleep(1500);
    // A third node joins: it takes its share; the shares always add up to 256 at most.
    live.push(await start('p2'));
    let shares = [];
    await waitFor(async () => {
      shares = await Promise.all(live.map(partitionsOwned));
      // Even within a few turns (a draining partition still counts until its requests end).
      return shares.reduce((a, b) => a + (b ?? 0), 0) === 256 && Math.max(...shares) - Math.min(...shares) <= 2;
    }, 20000, { interval: 200, message: 'the joining node owns an even share', describe: () => JSON.stringify(shares) });
    t.diagnostic(`after the join: partitions per node ${JSON.stringify(shares)}`);

    // SIGKILL the owner of webhook 0's partition; a node under a new name starts at once.
    const owner = psqlValue(dbUrl, `SELECT p.owner FROM partitions p JOIN webhooks w ON w.part = p.part WHERE w.id = '${hooks[0].id}'`);
    const victim = live.findIndex((n) => n.nodeId === owner || n.args().includes(owner));
    assert.ok(victim >= 0, `the owner ${owner} is one of the nodes`);
    await sleep(500);
    const before = (arrivalsByHook.get('/w0') ?? []).length;
    const [dead] = live.splice(victim, 1);
    await dead.kill9();
    const killedAt = Date.now();
    live.push(await start('p3-new-name'));
    await waitFor(() => (arrivalsByHook.get('/w0') ?? []).length > before, 15000, { interval: 50,
      message: "webhook 0's deliveries resume after its owner was killed" });
    const resumed = (arrivalsByHook.get('/w0') ?? []).find((at) => at >= killedAt);
    t.diagnostic(`takeover: webhook 0's first delivery ${resumed - killedAt} ms after SIGKILL of its owner ${owner}`);
    console.log(`multinode takeover: ${resumed - killedAt} ms after SIGKILL`);
    await sleep(1500);
    publishing = false;
    await publisher;

    // Every accepted event reaches every one of the 8 webhooks.
    const wanted = accepted.flatMap((id) => hooks.map((_, i) => `/w${i}:${id}`));
    let missing = [];
    await waitFor(() => { missing = wanted.filter((k) => !seen.has(k)); return missing.length === 0; }, 60000, {
      message: 'every accepted event delivered to every webhook',
      describe: () => `missing ${missing.length} of ${wanted.length}, e.g. ${missing.slice(0, 5).join(' ')}`,
    });
    await waitFor(async () => {
      shares = await Promise.all(live.map(partitionsOwned));
      return shares.reduce((a, b) => a + (b ?? 0), 0) === 256;
    }, 20000, { interval: 200, message: 'every partition owned by a live node', describe: () => JSON.stringify(shares) });
    const duplicates = [...seen.values()].reduce((a, c) => a + c - 1, 0);
    t.diagnostic(`accepted ${accepted.length} events for 8 webhooks, duplicates ${duplicates}, overlaps ${overlaps}, shares ${JSON.stringify(shares)}`);
    assert.equal(overlaps, 0, 'a delivery was in flight on two nodes at once');
  });
