// ordering: "entity" — per-entity acceptance order while one entity's first
// event is being retried, and parallelism across entities meanwhile.
// (controls.test.mjs covers the single-entity case; this one adds other
// entities, in-flight serialisation and the entity name being part of the key.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createWebhook, listDeliveries, publish, setupSite, startReceiver, startServer, waitFor,
} from './support.mjs';

let server;
let rx;
before(async () => { server = await startServer({ retrySchedule: '0s,1s,1s' }); });
after(async () => {
  if (rx) await rx.close();
  if (server) await server.dispose();
});

const TYPES = ['CREATE', 'UPDATE', 'UPDATE', 'DELETE'];

test('ordering "entity": entity 1 waits for its retried first event, entities 2..10 flow meanwhile', { timeout: 30000 }, async (t) => {
  const site = await setupSite(server);
  let failedOnce = false;
  rx = await startReceiver((rec) => {
    const b = JSON.parse(rec.text);
    rec.key = `${b.entity}:${b.entityId}`;
    // The very first attempt of Agreement 1's first event (CREATE) fails.
    if (!failedOnce && b.entity === 'Agreement' && b.entityId === 1 && b.event === 'CREATE') {
      failedOnce = true;
      return { status: 500, body: 'first attempt fails' };
    }
    return { status: 200, delayMs: 5 + Math.floor(Math.random() * 15) };
  });
  const wh = await createWebhook(site, { payloadUrl: rx.url(), ordering: 'entity' });
  assert.equal(wh.ordering, 'entity');

  // Acceptance order: four sequential requests; request k carries event k
  // of every entity. `Room 1` shares the id with `Agreement 1` but is a
  // different entity: it must not wait behind it.
  const accepted = []; // {eventId, key, k}
  for (let k = 0; k < TYPES.length; k++) {
    const events = [];
    for (let e = 1; e <= 10; e++) events.push({ event: TYPES[k], entity: 'Agreement', entityId: e });
    events.push({ event: TYPES[k], entity: 'Room', entityId: 1 });
    const { ids } = await publish(site, events);
    ids.forEach((id, i) => accepted.push({ eventId: id, key: `${events[i].entity}:${events[i].entityId}`, k }));
  }
  const total = accepted.length; // 44

  await waitFor(() => rx.succeeded.length >= total, 15000, {
    interval: 50,
    message: `${total} successful deliveries`,
    describe: () => `${rx.succeeded.length} ok of ${rx.requests.length} requests`,
  });

  // Map each request to its event through the delivery id (webhook-id).
  const deliveries = await listDeliveries(site, wh.id);
  assert.equal(deliveries.length, total);
  const eventOfDelivery = new Map(deliveries.map((d) => [d.id, d.eventId]));
  const acceptIndex = new Map(accepted.map((a, i) => [a.eventId, i]));
  const reqs = rx.requests.map((q) => ({ ...q, eventId: eventOfDelivery.get(q.headers['webhook-id']) }));
  assert.ok(reqs.every((q) => q.eventId), 'every request carries a known webhook-id');

  const byKey = new Map();
  for (const q of reqs) {
    if (!byKey.has(q.key)) byKey.set(q.key, []);
    byKey.get(q.key).push(q);
  }
  // Per entity: successful deliveries in acceptance order, and never two
  // requests of one entity in flight at once.
  for (const [key, list] of byKey) {
    const okOrder = list.filter((q) => q.status === 200).map((q) => acceptIndex.get(q.eventId));
    const expected = accepted.map((a, i) => (a.key === key ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(okOrder, expected, `${key}: deliveries in acceptance order`);
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i - 1].answeredAt !== null && list[i].at >= list[i - 1].answeredAt,
        `${key}: request ${i + 1} started before request ${i} was answered (two in flight for one entity)`);
    }
  }
  // Agreement 1: failed CREATE, then CREATE again, then UPDATE, UPDATE, DELETE.
  const a1 = byKey.get('Agreement:1');
  assert.deepEqual(a1.map((q) => q.status), [500, 200, 200, 200, 200]);
  assert.deepEqual(a1.map((q) => JSON.parse(q.text).event), ['CREATE', 'CREATE', 'UPDATE', 'UPDATE', 'DELETE']);
  assert.equal(a1[0].headers['webhook-id'], a1[1].headers['webhook-id'], 'the retry is the same delivery');
  const retryAt = a1[1].at;
  const retryGap = retryAt - a1[0].answeredAt;
  const others = reqs.filter((q) => q.key !== 'Agreement:1');
  const lastOther = Math.max(...others.map((q) => q.answeredAt));
  // Per other entity: how long each later event waited after the earlier one was answered.
  const stepGaps = [];
  for (const [key, list] of byKey) {
    if (key === 'Agreement:1') continue;
    for (let i = 1; i < list.length; i++) stepGaps.push(list[i].at - list[i - 1].answeredAt);
  }
  t.diagnostic(`Agreement 1: retry ${retryGap} ms after its failed attempt (schedule 1 s ±10 %); `
    + `other entities done ${lastOther - a1[0].at} ms after Agreement 1's first attempt; `
    + `their step gaps (next request after previous answer, ms): max ${Math.max(...stepGaps)}, ${stepGaps.join(' ')}`);
  assert.ok(retryGap >= 800, `the retry followed the 1 s schedule (${retryGap} ms)`);

  // Parallelism: every event of the other entities (Room 1 included) was
  // delivered before Agreement 1's retry even started.
  const late = others.filter((q) => q.at >= retryAt);
  assert.deepEqual(late.map((q) => `${q.key} ${JSON.parse(q.text).event} at +${q.at - a1[0].at} ms`), [],
    `deliveries of other entities still going on when Agreement 1's retry started at +${retryAt - a1[0].at} ms `
    + `(largest wait of a later event after its predecessor's answer: ${Math.max(...stepGaps)} ms)`);
  assert.ok(retryGap <= 1600, `the retry came ${retryGap} ms after the failure; the schedule says 1 s ±10 %`);
  // Some other entities overlapped in time (they ran in parallel).
  const maxOverlap = Math.max(...others.map((q) => q.concurrentAtArrival));
  assert.ok(maxOverlap >= 2, `requests for different entities overlapped (max ${maxOverlap} concurrent)`);
});

test('ordering "entity": a later event of the same entity goes out as soon as the earlier one is answered', { timeout: 30000 }, async (t) => {
  const site = await setupSite(server);
  const rx2 = await startReceiver({ status: 200, delayMs: 20 });
  try {
    const wh = await createWebhook(site, { payloadUrl: rx2.url(), ordering: 'entity' });
    const types = ['CREATE', 'UPDATE', 'UPDATE', 'ARCHIVE', 'DELETE'];
    const t0 = Date.now();
    await publish(site, types.map((event) => ({ event, entity: 'Desk', entityId: 'desk-7' })));
    await waitFor(() => rx2.succeeded.length >= types.length, 15000, { interval: 20, message: `${types.length} deliveries` });
    const q = rx2.requests;
    const gaps = q.slice(1).map((r, i) => r.at - q[i].answeredAt);
    t.diagnostic(`5 in-order deliveries took ${q.at(-1).answeredAt - t0} ms; waits after each answer: ${gaps.join(' ')} ms`);
    assert.deepEqual(q.map((r) => JSON.parse(r.text).event), types, 'acceptance order');
    for (const g of gaps) assert.ok(g >= 0, 'never two in flight');
    // Each answer is immediate-ish (20 ms); waiting for an idle poll (1 s) per step is not "in parallel, promptly".
    assert.ok(Math.max(...gaps) <= 500, `the next event of the entity waited ${Math.max(...gaps)} ms after the previous one was answered`);
    const ds = await listDeliveries(site, wh.id);
    assert.equal(ds.length, types.length);
  } finally {
    await rx2.close();
  }
});
