// At-least-once across a crash: every acknowledged (202) event is delivered
// after kill -9 and a restart on the same database.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  createWebhook, listDeliveries, setupSite, sleep, startReceiver, startServer, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
// Long enough that nothing is `failed` before the restart (receiver down for
// a few seconds), short enough that pending retries come due quickly.
const SCHEDULE = '0s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s';
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

function entityIdsAt(rx) {
  return new Set(rx.succeeded.map((r) => JSON.parse(r.text).entityId));
}

async function assertAllDelivered(site, whId, rx, accepted, timeoutMs) {
  const wanted = new Map(accepted.map((a) => [a.id, a.entityId]));
  let last = [];
  await waitFor(async () => {
    last = await listDeliveries(site, whId);
    return last.filter((d) => wanted.has(d.eventId) && d.state === 'succeeded').length === wanted.size;
  }, timeoutMs, {
    message: `all ${wanted.size} accepted events delivered`,
    describe: () => {
      const states = {};
      for (const d of last) states[d.state] = (states[d.state] ?? 0) + 1;
      const missing = [...wanted.keys()].filter((id) => !last.some((d) => d.eventId === id));
      return `deliveries=${last.length} states=${JSON.stringify(states)} missing=${missing.length} receiver2xx=${rx.succeeded.length}`;
    },
  });
  // No acknowledged event lost, no duplicate delivery rows.
  const got = new Map();
  for (const d of last) got.set(d.eventId, (got.get(d.eventId) ?? 0) + 1);
  for (const id of wanted.keys()) assert.equal(got.get(id), 1, `exactly one delivery for event ${id}`);
  // And the receiver saw each (at least once — retries may duplicate).
  const seen = entityIdsAt(rx);
  const missing = [...wanted.values()].filter((e) => !seen.has(e));
  assert.deepEqual(missing, [], 'every accepted entity id reached the receiver with a 2xx');
}

test('receiver failing (503) while events are accepted; kill -9; restart → all delivered', T, async () => {
  const server = await startServer({ retrySchedule: SCHEDULE });
  cleanup.push(() => server.dispose());
  const rx = await startReceiver({ status: 503 });
  cleanup.push(() => rx.close());
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: rx.url() });

  // Publish in a tight loop and crash the server in the middle of it: only
  // events that got a 202 are owed.
  const accepted = [];
  let n = 0;
  let stop = false;
  const pump = (async () => {
    while (!stop) {
      const batch = Array.from({ length: 5 }, () => ({ event: 'CREATE', entity: 'Agreement', entityId: n++ }));
      try {
        const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { events: batch }, { timeoutMs: 3000 });
        if (r.status === 202) r.json.ids.forEach((id, i) => accepted.push({ id, entityId: batch[i].entityId }));
      } catch { /* server died mid-request: not acknowledged */ }
    }
  })();
  await waitFor(() => accepted.length >= 50, 10000, { message: '50 events accepted' });
  await server.kill9();
  stop = true;
  await pump;
  assert.ok(accepted.length >= 50);
  assert.ok(rx.requests.length >= 1, 'some attempts reached the failing receiver before the crash');
  assert.equal(rx.succeeded.length, 0);

  rx.program({ status: 200 });
  await server.start();
  await assertAllDelivered(site, wh.id, rx, accepted, 20000);
});

test('receiver hanging with attempts in flight; kill -9; restart → all delivered promptly', T, async () => {
  const server = await startServer({ retrySchedule: SCHEDULE });
  cleanup.push(() => server.dispose());
  const rx = await startReceiver({ hang: true });
  cleanup.push(() => rx.close());
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: rx.url(), timeoutMs: 30000 });
  const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, {
    events: Array.from({ length: 30 }, (_, i) => ({ event: 'UPDATE', entity: 'Room', entityId: `room-${i}` })),
  });
  assert.equal(r.status, 202, r.text);
  const accepted = r.json.ids.map((id, i) => ({ id, entityId: `room-${i}` }));
  await waitFor(() => rx.requests.length >= 1, 10000, { message: 'attempts in flight at the hanging receiver' });
  await sleep(200);
  await server.kill9();
  rx.program({ status: 200 });
  const t0 = Date.now();
  await server.start();
  // "A single node on its embedded store resumes interrupted deliveries at once."
  await assertAllDelivered(site, wh.id, rx, accepted, 15000);
  const took = Date.now() - t0;
  assert.ok(took < 10000, `resumed promptly after restart (${took} ms)`);
});

test('receiver not listening at all; kill -9; restart with receiver up on the same port → all delivered', T, async () => {
  const server = await startServer({ retrySchedule: SCHEDULE });
  cleanup.push(() => server.dispose());
  const probe = await startReceiver();
  const port = probe.port;
  await probe.close(); // nothing listens on `port` now: attempts get connection refused
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: `http://127.0.0.1:${port}/hooks`, method: 'GET' });
  const accepted = [];
  for (let i = 0; i < 10; i++) {
    const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { event: 'DELETE', entity: 'Desk', entityId: i });
    assert.equal(r.status, 202, r.text);
    accepted.push({ id: r.json.ids[0], entityId: i });
  }
  await sleep(300);
  const during = await listDeliveries(site, wh.id);
  assert.equal(during.length, 10);
  await server.kill9();
  const rx = await startReceiver({ status: 200 }, { port });
  cleanup.push(() => rx.close());
  await server.start();
  const wanted = new Map(accepted.map((a) => [a.id, a.entityId]));
  let last = [];
  await waitFor(async () => {
    last = await listDeliveries(site, wh.id);
    return last.filter((d) => wanted.has(d.eventId) && d.state === 'succeeded').length === 10;
  }, 20000, { message: 'all 10 delivered', describe: () => JSON.stringify(last.map((d) => [d.state, d.attemptCount])) });
  const paths = new Set(rx.succeeded.map((q) => q.path));
  for (let i = 0; i < 10; i++) assert.ok(paths.has(`/hooks/DELETE/Desk/${i}`), `GET /hooks/DELETE/Desk/${i} received`);
  // A connect error is recorded as such.
  const full = (await site.admin.get(`/v1/sites/${site.siteId}/deliveries/${last[0].id}`)).json;
  const firstAttempt = full.attempts[0];
  assert.equal(firstAttempt.status, null, JSON.stringify(firstAttempt));
  assert.equal(firstAttempt.error, 'connect', JSON.stringify(firstAttempt));
});
