// Which webhooks get which events; roles and site isolation.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  createWebhook, listDeliveries, publish, setupSite, show, sleep, useServer, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
const { server, receiver } = useServer();

const key = (r) => {
  const b = JSON.parse(r.text);
  return `${b.event}:${b.entity}:${b.entityId}`;
};

test('catalogue: 4 event types and 140 entities', T, async () => {
  const site = await setupSite(server);
  const res = await site.admin.get('/v1/catalog');
  assert.equal(res.status, 200, show(res));
  assert.deepEqual(res.json.events, ['CREATE', 'UPDATE', 'DELETE', 'ARCHIVE']);
  assert.equal(res.json.entities.length, 140);
  const names = res.json.entities.map((e) => e.name);
  for (const n of ['Agreement', 'Building', 'Floor', 'Room', 'Desk', 'Reservation', 'Visitor', 'Asset', 'WorkOrder', 'MailItem', 'Move']) {
    assert.ok(names.includes(n), `catalogue has ${n}`);
  }
  assert.equal(new Set(names).size, 140, 'entity names are unique');
});

describe('filters', () => {
  test('entity filter, event filter, sendEverything, disabled webhook', T, async () => {
    const site = await setupSite(server);
    const rEntity = await receiver();
    const rEvent = await receiver();
    const rAll = await receiver();
    const rOff = await receiver();
    await createWebhook(site, { payloadUrl: rEntity.url(), events: ['CREATE', 'UPDATE'], sendEverything: false, entities: ['Agreement', 'Desk'] });
    await createWebhook(site, { payloadUrl: rEvent.url(), events: ['DELETE'], sendEverything: true });
    await createWebhook(site, { payloadUrl: rAll.url(), events: ['CREATE', 'UPDATE', 'DELETE', 'ARCHIVE'], sendEverything: true });
    const off = await createWebhook(site, { payloadUrl: rOff.url(), sendEverything: true, enabled: false });
    assert.equal(off.enabled, false);

    const events = [
      { event: 'CREATE', entity: 'Agreement', entityId: 1 },
      { event: 'UPDATE', entity: 'Agreement', entityId: 2 },
      { event: 'DELETE', entity: 'Agreement', entityId: 3 },
      { event: 'CREATE', entity: 'Room', entityId: 4 },
      { event: 'DELETE', entity: 'Room', entityId: 5 },
      { event: 'ARCHIVE', entity: 'Desk', entityId: 6 },
      { event: 'UPDATE', entity: 'Desk', entityId: 7 },
    ];
    const acc = await publish(site, events);
    assert.equal(acc.accepted, 7);

    await waitFor(() => rAll.requests.length >= 7 && rEntity.requests.length >= 3 && rEvent.requests.length >= 2, 15000, {
      message: 'deliveries at every receiver',
      describe: () => `all=${rAll.requests.length} entity=${rEntity.requests.length} event=${rEvent.requests.length}`,
    });
    await sleep(1000); // give any wrongly-routed delivery time to show up
    assert.deepEqual(rAll.requests.map(key).sort(), events.map((e) => `${e.event}:${e.entity}:${e.entityId}`).sort());
    assert.deepEqual(rEntity.requests.map(key).sort(), ['CREATE:Agreement:1', 'UPDATE:Agreement:2', 'UPDATE:Desk:7']);
    assert.deepEqual(rEvent.requests.map(key).sort(), ['DELETE:Agreement:3', 'DELETE:Room:5']);
    assert.equal(rOff.requests.length, 0, 'disabled webhook gets nothing');
    assert.deepEqual(await listDeliveries(site, off.id), [], 'disabled webhook has no deliveries');
  });

  test('re-enabled webhook gets later events; PATCH changes the filter', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    const wh = await createWebhook(site, { payloadUrl: rx.url(), enabled: false, events: ['CREATE'], sendEverything: false, entities: ['Room'] });
    await publish(site, { event: 'CREATE', entity: 'Room', entityId: 1 });
    let res = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${wh.id}`, { enabled: true, entities: ['Floor'] });
    assert.equal(res.status, 200, show(res));
    assert.equal(res.json.enabled, true);
    assert.deepEqual(res.json.entities, ['Floor']);
    await publish(site, [
      { event: 'CREATE', entity: 'Room', entityId: 2 },
      { event: 'CREATE', entity: 'Floor', entityId: 3 },
    ]);
    await waitFor(() => rx.requests.length >= 1, 10000, { message: 'Floor event delivered' });
    await sleep(800);
    assert.deepEqual(rx.requests.map(key), ['CREATE:Floor:3']);
  });

  test('entity and event names are matched case-insensitively and normalised', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    const wh = await createWebhook(site, { payloadUrl: rx.url(), events: ['create'], method: 'post', sendEverything: false, entities: ['agreement'] });
    assert.deepEqual(wh.events, ['CREATE']);
    assert.equal(wh.method, 'POST');
    assert.deepEqual(wh.entities, ['Agreement']);
    await publish(site, { event: 'create', entity: 'AGREEMENT', entityId: 25 });
    await waitFor(() => rx.requests.length >= 1, 10000, { message: 'delivery' });
    assert.equal(rx.requests[0].text, '{"event":"CREATE","entity":"Agreement","entityId":25}');
  });
});

describe('site isolation and roles', () => {
  let A; let B; let whA; let whB; let rA; let rB;

  before(async () => {
    A = await setupSite(server);
    B = await setupSite(server);
    rA = await receiver();
    rB = await receiver();
    whA = await createWebhook(A, { payloadUrl: rA.url() });
    whB = await createWebhook(B, { payloadUrl: rB.url() });
  });

  test('/v1/me reports role and site', T, async () => {
    let r = await A.admin.get('/v1/me');
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.role, 'admin');
    assert.equal(r.json.site, A.siteId);
    r = await A.publisher.get('/v1/me');
    assert.equal(r.json.role, 'publisher');
    assert.equal(r.json.site, A.siteId);
    r = await server.api().get('/v1/me');
    assert.equal(r.json.role, 'operator');
    assert.equal(r.json.site, null);
  });

  test("events of site A never reach site B's webhook", T, async () => {
    await publish(A, [
      { event: 'CREATE', entity: 'Agreement', entityId: 100 },
      { event: 'UPDATE', entity: 'Room', entityId: 101 },
    ]);
    await waitFor(() => rA.requests.length >= 2, 10000, { message: "A's deliveries" });
    await sleep(800);
    assert.equal(rB.requests.length, 0, "B's receiver got nothing");
    assert.deepEqual(await listDeliveries(B, whB.id), []);
  });

  test("admin of A gets 403 on B's routes", T, async () => {
    const routes = [
      ['GET', `/v1/sites/${B.siteId}/webhooks`],
      ['GET', `/v1/sites/${B.siteId}/webhooks/${whB.id}`],
      ['GET', `/v1/sites/${B.siteId}/webhooks/${whB.id}/deliveries`],
      ['PATCH', `/v1/sites/${B.siteId}/webhooks/${whB.id}`, { enabled: false }],
      ['DELETE', `/v1/sites/${B.siteId}/webhooks/${whB.id}`],
      ['POST', `/v1/sites/${B.siteId}/webhooks`, { payloadUrl: rA.url(), secret: 'x', events: ['CREATE'], method: 'POST', sendEverything: true }],
      ['POST', `/v1/sites/${B.siteId}/webhooks/${whB.id}/test`, {}],
    ];
    for (const [m, p, body] of routes) {
      const r = await A.admin.request(m, p, body);
      assert.equal(r.status, 403, `${m} ${p}: ${show(r)}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/, `${m} ${p} content-type`);
    }
    // B's webhook is untouched.
    const r = await B.admin.get(`/v1/sites/${B.siteId}/webhooks/${whB.id}`);
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.enabled, true);
    assert.equal(rB.requests.length, 0, 'no test message was sent to B');
  });

  test("admin of A can't read B's webhook or delivery by id through its own site", T, async () => {
    let r = await A.admin.get(`/v1/sites/${A.siteId}/webhooks/${whB.id}`);
    assert.equal(r.status, 404, show(r));
    r = await A.admin.get(`/v1/sites/${A.siteId}/webhooks/${whB.id}/deliveries`);
    assert.equal(r.status, 404, show(r));
    // A delivery of B, looked up through A.
    await publish(B, { event: 'CREATE', entity: 'Agreement', entityId: 7 });
    const dB = await waitFor(async () => (await listDeliveries(B, whB.id))[0], 10000, { message: "B's delivery" });
    r = await A.admin.get(`/v1/sites/${A.siteId}/deliveries/${dB.id}`);
    assert.equal(r.status, 404, show(r));
    r = await A.admin.post(`/v1/sites/${A.siteId}/deliveries/${dB.id}/retry`, {});
    assert.equal(r.status, 404, show(r));
    r = await A.admin.get(`/v1/sites/${A.siteId}/webhooks`);
    assert.equal(r.status, 200, show(r));
    assert.deepEqual(r.json.data.map((w) => w.id), [whA.id]);
  });

  test("publisher can't manage webhooks; admin can't publish; cross-site publish refused", T, async () => {
    let r = await A.publisher.get(`/v1/sites/${A.siteId}/webhooks`);
    assert.equal(r.status, 403, show(r));
    r = await A.publisher.post(`/v1/sites/${A.siteId}/webhooks`, { payloadUrl: rA.url(), secret: 'x', events: ['CREATE'], method: 'POST', sendEverything: true });
    assert.equal(r.status, 403, show(r));
    r = await A.publisher.get(`/v1/sites/${A.siteId}/webhooks/${whA.id}`);
    assert.equal(r.status, 403, show(r));
    r = await A.admin.post(`/v1/sites/${A.siteId}/events`, { event: 'CREATE', entity: 'Agreement', entityId: 1 });
    assert.equal(r.status, 403, show(r));
    r = await A.publisher.post(`/v1/sites/${B.siteId}/events`, { event: 'CREATE', entity: 'Agreement', entityId: 1 });
    assert.equal(r.status, 403, show(r));
    // Site-scoped tokens can't do operator things.
    r = await A.admin.post('/v1/sites', { id: 'evil', name: 'x' });
    assert.equal(r.status, 403, show(r));
    r = await A.admin.post(`/v1/sites/${A.siteId}/tokens`, { role: 'admin', name: 'x' });
    assert.equal(r.status, 403, show(r));
    // The operator token is not an admin of a site.
    r = await server.api().post(`/v1/sites/${A.siteId}/events`, { event: 'CREATE', entity: 'Agreement', entityId: 1 });
    assert.equal(r.status, 403, show(r));
    await sleep(500);
    const hits = rA.requests.filter((q) => JSON.parse(q.text).entityId === 1);
    assert.equal(hits.length, 0, 'no refused publish was delivered');
  });

  test('revoked token stops working at once', T, async () => {
    const op = server.api();
    const t = await op.post(`/v1/sites/${A.siteId}/tokens`, { role: 'admin', name: 'short-lived' });
    assert.equal(t.status, 201, show(t));
    const c = server.api(t.json.token);
    assert.equal((await c.get(`/v1/sites/${A.siteId}/webhooks`)).status, 200);
    const d = await op.del(`/v1/sites/${A.siteId}/tokens/${t.json.id}`);
    assert.equal(d.status, 204, show(d));
    const r = await c.get(`/v1/sites/${A.siteId}/webhooks`);
    assert.equal(r.status, 401, show(r));
  });
});
