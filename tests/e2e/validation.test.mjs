// Bad input gets a clear 4xx problem document and changes nothing; limits,
// pagination, batches, idempotency, address guard.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  SECRET, createWebhook, listDeliveries, publish, setupSite, show, sleep, startServer, useServer, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
const { server, receiver } = useServer();

function assertProblem(res, status, what) {
  assert.equal(res.status, status, `${what}: ${show(res)}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: content-type of ${show(res)}`);
  assert.ok(res.json && typeof res.json === 'object', `${what}: problem body is JSON: ${res.text}`);
  assert.equal(res.json.status, status, `${what}: problem.status`);
  assert.equal(typeof res.json.title, 'string', `${what}: problem.title`);
}

function errorFields(res) {
  return Array.isArray(res.json?.errors) ? res.json.errors.map((e) => String(e.field)) : [];
}

async function webhookIds(site) {
  const r = await site.admin.get(`/v1/sites/${site.siteId}/webhooks?limit=1000`);
  assert.equal(r.status, 200, show(r));
  return r.json.data.map((w) => w.id).sort();
}

describe('webhook validation', () => {
  let site; let rx; let good;
  before(async () => {
    site = await setupSite(server);
    rx = await receiver();
    good = await createWebhook(site, { payloadUrl: rx.url(), sendEverything: true });
  });

  const valid = () => ({ payloadUrl: rx.url(), secret: SECRET, events: ['CREATE'], method: 'POST', sendEverything: false, entities: ['Agreement'] });
  const bad = [
    ['ftp:// URL', (b) => { b.payloadUrl = 'ftp://127.0.0.1/hooks'; }, 'payloadUrl'],
    ['relative URL', (b) => { b.payloadUrl = '/hooks'; }, 'payloadUrl'],
    ['URL with user-info', (b) => { b.payloadUrl = rx.url().replace('http://', 'http://u:p@'); }, 'payloadUrl'],
    ['missing events', (b) => { delete b.events; }, 'events'],
    ['empty events', (b) => { b.events = []; }, 'events'],
    ['unknown event', (b) => { b.events = ['CREATE', 'EXPLODE']; }, 'events'],
    ['bad method', (b) => { b.method = 'PUT'; }, 'method'],
    ['sendEverything false with empty entities', (b) => { b.entities = []; }, 'entities'],
    ['sendEverything false without entities', (b) => { delete b.entities; }, 'entities'],
    ['unknown entity', (b) => { b.entities = ['Agreement', 'Spaceship']; }, 'entities'],
    ['empty secret', (b) => { b.secret = ''; }, 'secret'],
    ['timeoutMs out of range', (b) => { b.timeoutMs = 10; }, 'timeoutMs'],
    ['bad ordering', (b) => { b.ordering = 'random'; }, 'ordering'],
    ['unknown field', (b) => { b.colour = 'blue'; }, null],
  ];
  for (const [name, mutate, field] of bad) {
    test(`create refused: ${name}`, T, async () => {
      const before_ = await webhookIds(site);
      const body = valid();
      mutate(body);
      const r = await site.admin.post(`/v1/sites/${site.siteId}/webhooks`, body);
      assertProblem(r, 422, name);
      assert.ok(Array.isArray(r.json.errors) && r.json.errors.length > 0, `${name}: errors list: ${r.text}`);
      if (field) {
        assert.ok(errorFields(r).some((f) => f === field || f.startsWith(`${field}[`) || f.startsWith(`${field}.`)),
          `${name}: errors name field ${field}: ${r.text}`);
      }
      assert.deepEqual(await webhookIds(site), before_, `${name}: list unchanged`);
    });
  }

  test('PATCH with bad input changes nothing', T, async () => {
    const path = `/v1/sites/${site.siteId}/webhooks/${good.id}`;
    const before_ = (await site.admin.get(path)).json;
    for (const body of [{ events: [] }, { method: 'DELETE' }, { payloadUrl: 'ftp://x/y' }, { sendEverything: false, entities: [] }, { events: ['UPDATE'], entities: ['Nope'], sendEverything: false }]) {
      const r = await site.admin.patch(path, body);
      assertProblem(r, 422, `PATCH ${JSON.stringify(body)}`);
    }
    const after_ = (await site.admin.get(path)).json;
    assert.deepEqual(after_, before_);
  });

  test('malformed JSON → 400', T, async () => {
    const before_ = await webhookIds(site);
    const r = await site.admin.post(`/v1/sites/${site.siteId}/webhooks`, '{"payloadUrl": "http://x", ', { headers: { 'content-type': 'application/json' } });
    assertProblem(r, 400, 'malformed JSON webhook');
    const e = await site.publisher.post(`/v1/sites/${site.siteId}/events`, '{"event":"CREATE",,}', { headers: { 'content-type': 'application/json' } });
    assertProblem(e, 400, 'malformed JSON event');
    assert.deepEqual(await webhookIds(site), before_);
  });

  test('secret is masked on create response, GET and list', T, async () => {
    const created = await createWebhook(site, { payloadUrl: rx.url('/masked'), secret: 'super-Secret-value-123' });
    assert.notEqual(created.secret, 'super-Secret-value-123');
    const g = await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${created.id}`);
    assert.equal(g.status, 200, show(g));
    assert.notEqual(g.json.secret, 'super-Secret-value-123');
    assert.ok(!g.text.includes('super-Secret-value-123'), 'secret appears nowhere in GET');
    const l = await site.admin.get(`/v1/sites/${site.siteId}/webhooks`);
    assert.ok(!l.text.includes('super-Secret-value-123'), 'secret appears nowhere in the list');
    assert.ok(!l.text.includes(SECRET), 'mySecret appears nowhere in the list');
    const del = await site.admin.del(`/v1/sites/${site.siteId}/webhooks/${created.id}`);
    assert.equal(del.status, 204, show(del));
  });

  test('webhook object has the documented defaults', T, async () => {
    const g = (await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${good.id}`)).json;
    assert.match(g.id, /^wh_/);
    assert.equal(g.site, site.siteId);
    assert.equal(g.timeoutMs, 15000);
    assert.equal(g.maxInFlight, 8);
    assert.equal(g.rateLimitPerSecond, null);
    assert.equal(g.ordering, 'none');
    assert.equal(g.enabled, true);
    assert.equal(g.disabledReason, null);
    assert.equal(g.disabledAt, null);
    assert.deepEqual(g.entities, []);
    for (const k of ['createdAt', 'updatedAt']) assert.match(g[k], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${k}=${g[k]}`);
  });
});

describe('auth and protocol errors', () => {
  test('no token / unknown token → 401 problem', T, async () => {
    const site = await setupSite(server);
    const anon = server.api(null);
    assertProblem(await anon.get(`/v1/sites/${site.siteId}/webhooks`), 401, 'no token');
    assertProblem(await anon.post(`/v1/sites/${site.siteId}/events`, { event: 'CREATE', entity: 'Agreement', entityId: 1 }), 401, 'no token publish');
    assertProblem(await server.api('hkd_notarealtokennotarealtokennotarealtoken123').get('/v1/me'), 401, 'unknown token');
    assertProblem(await anon.get('/v1/sites'), 401, 'no token operator route');
    const h = await anon.get('/healthz');
    assert.equal(h.status, 200, 'healthz needs no token');
  });

  test('unknown route → 404, wrong method → 405', T, async () => {
    const op = server.api();
    assertProblem(await op.get('/v1/nothing-here'), 404, 'unknown route');
    assertProblem(await op.request('PUT', '/v1/sites'), 405, 'wrong method');
  });

  // Issue 12, point 9: the errors the HTTP layer answers before any handler are problem
  // documents like every other error; 405 says what is allowed; messages are English.
  test('413, 431, 405 and 403 are full problem documents (type, detail; Allow on 405)', T, async () => {
    const site = await setupSite(server);
    const hookdProblem = (res, status, kind, what) => {
      assertProblem(res, status, what);
      assert.equal(res.json.type, `https://hookd.dev/problems/${kind}`, `${what}: type`);
      assert.equal(typeof res.json.detail, 'string', `${what}: detail`);
      assert.ok(res.json.detail.length > 0, `${what}: detail`);
    };
    const big = await site.publisher.post(`/v1/sites/${site.siteId}/events`, `{"events":[${' '.repeat(1024 * 1024)}]}`, { headers: { 'content-type': 'application/json' } });
    hookdProblem(big, 413, 'payload-too-large', 'body over 1 MiB');
    assert.match(big.json.detail, /1048576 bytes/);
    const headers = await site.admin.get(`/v1/sites/${site.siteId}/webhooks`, { headers: { 'x-filler': 'h'.repeat(64 * 1024) } });
    hookdProblem(headers, 431, 'headers-too-large', 'header fields over 16 KiB');
    assert.match(headers.json.detail, /16384 bytes/);
    const put = await site.admin.put(`/v1/sites/${site.siteId}/webhooks`, {});
    hookdProblem(put, 405, 'method-not-allowed', 'PUT on the webhooks collection');
    assert.equal(put.headers.allow, 'GET, HEAD, POST');
    const del = await server.api().del('/v1/sites');
    assert.equal(del.headers.allow, 'POST, GET, HEAD');
    const one = await site.admin.request('POST', `/v1/sites/${site.siteId}/webhooks/wh_x`);
    assert.equal(one.status, 405, show(one));
    assert.equal(one.headers.allow, 'GET, HEAD, PATCH, DELETE');
    const wrongRole = await site.publisher.get(`/v1/sites/${site.siteId}/webhooks`);
    hookdProblem(wrongRole, 403, 'forbidden', 'publisher on an admin route');
    assert.equal(wrongRole.json.detail, 'this route needs an admin token');
    const wrongRole2 = await site.admin.post(`/v1/sites/${site.siteId}/events`, { event: 'CREATE', entity: 'Agreement', entityId: 1 });
    assert.equal(wrongRole2.json.detail, 'this route needs a publisher token');
  });

  test('a bad cursor or limit on a list is refused with 400 naming the parameter', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    const wh = await createWebhook(site, { payloadUrl: rx.url() });
    const list = `/v1/sites/${site.siteId}/webhooks/${wh.id}/deliveries`;
    for (const [q, field] of [['cursor=not-a-cursor', 'cursor'], [`cursor=${wh.id}`, 'cursor'], ['limit=0', 'limit'], ['limit=x', 'limit'], ['state=lost', 'state'], ['since=yesterday', 'since']]) {
      const r = await site.admin.get(`${list}?${q}`);
      assertProblem(r, 400, `?${q}`);
      assert.deepEqual(errorFields(r), [field], `?${q}: ${r.text}`);
    }
    assert.equal((await site.admin.get(`${list}?cursor=`)).status, 200, 'an empty cursor is the first page');
  });

  test('body over 1 MiB → 413 and nothing created', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    const wh = await createWebhook(site, { payloadUrl: rx.url() });
    const events = [];
    let size = 0;
    for (let i = 0; size < 1100 * 1024; i++) {
      const e = { event: 'CREATE', entity: 'Agreement', entityId: `${'x'.repeat(100)}${i}` };
      events.push(e);
      size += JSON.stringify(e).length + 1;
    }
    const body = JSON.stringify({ events });
    assert.ok(Buffer.byteLength(body) > 1024 * 1024);
    const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, body, { headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 413, show(r));
    const big = await site.admin.post(`/v1/sites/${site.siteId}/webhooks`,
      JSON.stringify({ payloadUrl: rx.url(), secret: 'x', events: ['CREATE'], method: 'POST', sendEverything: true, description: 'd'.repeat(1024 * 1024 + 10) }),
      { headers: { 'content-type': 'application/json' } });
    assert.equal(big.status, 413, show(big));
    await sleep(300);
    assert.deepEqual(await listDeliveries(site, wh.id), []);
    assert.equal(rx.requests.length, 0);
    assert.deepEqual(await webhookIds(site), [wh.id]);
  });
});

describe('events', () => {
  let site; let rx; let wh;
  before(async () => {
    site = await setupSite(server);
    rx = await receiver();
    wh = await createWebhook(site, { payloadUrl: rx.url(), sendEverything: true });
  });

  const badEvents = [
    ['unknown entity', { event: 'CREATE', entity: 'Spaceship', entityId: 1 }],
    ['unknown event', { event: 'EXPLODE', entity: 'Agreement', entityId: 1 }],
    ['negative id', { event: 'CREATE', entity: 'Agreement', entityId: -1 }],
    ['fractional id', { event: 'CREATE', entity: 'Agreement', entityId: 1.5 }],
    ['id with slash', { event: 'CREATE', entity: 'Agreement', entityId: 'a/b' }],
    ['empty string id', { event: 'CREATE', entity: 'Agreement', entityId: '' }],
    ['id too long', { event: 'CREATE', entity: 'Agreement', entityId: 'a'.repeat(129) }],
    ['missing entityId', { event: 'CREATE', entity: 'Agreement' }],
    ['empty batch', { events: [] }],
  ];
  for (const [name, body] of badEvents) {
    test(`event refused: ${name}`, T, async () => {
      const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, body);
      assertProblem(r, 422, name);
    });
  }

  test('batch with the 2nd event invalid → 4xx naming index 1, nothing created', T, async () => {
    const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, {
      events: [
        { event: 'CREATE', entity: 'Agreement', entityId: 1 },
        { event: 'CREATE', entity: 'NotAThing', entityId: 2 },
        { event: 'CREATE', entity: 'Agreement', entityId: 3 },
      ],
    });
    assertProblem(r, 422, 'batch with bad index 1');
    assert.ok(r.text.includes('events[1]'), `body names events[1]: ${r.text}`);
    assert.ok(errorFields(r).some((f) => f.startsWith('events[1]')), `errors[].field names events[1]: ${r.text}`);
    await sleep(800);
    assert.deepEqual(await listDeliveries(site, wh.id), [], 'no delivery created (earlier refused events included)');
    assert.equal(rx.requests.length, 0, 'nothing delivered');
  });

  test('batch of 1001 refused', T, async () => {
    const events = Array.from({ length: 1001 }, (_, i) => ({ event: 'CREATE', entity: 'Agreement', entityId: i }));
    const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { events });
    assert.ok(r.status >= 400 && r.status < 500, show(r));
    assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/);
    await sleep(300);
    assert.deepEqual(await listDeliveries(site, wh.id), []);
  });

  test('idempotency key: repeat returns the same ids and creates nothing', T, async () => {
    const s = await setupSite(server);
    const r2 = await receiver();
    const w = await createWebhook(s, { payloadUrl: r2.url() });
    const body = { events: [{ event: 'CREATE', entity: 'Agreement', entityId: 1 }, { event: 'UPDATE', entity: 'Agreement', entityId: 2 }] };
    const headers = { 'idempotency-key': `key-${Date.now()}` };
    const a = await s.publisher.post(`/v1/sites/${s.siteId}/events`, body, { headers });
    assert.equal(a.status, 202, show(a));
    const b = await s.publisher.post(`/v1/sites/${s.siteId}/events`, body, { headers });
    assert.equal(b.status, 202, show(b));
    assert.deepEqual(b.json.ids, a.json.ids);
    assert.equal(b.json.accepted, a.json.accepted);
    // The same key with another body: the first answer again, marked, and nothing new —
    // the body of a repeat is not compared.
    const other = { event: 'DELETE', entity: 'Agreement', entityId: 99 };
    const d = await s.publisher.post(`/v1/sites/${s.siteId}/events`, other, { headers });
    assert.equal(d.status, 202, show(d));
    assert.deepEqual(d.json.ids, a.json.ids);
    assert.equal(d.headers['idempotent-replayed'], 'true');
    assert.equal(a.headers['idempotent-replayed'], undefined);
    // A different key creates new events.
    const c = await s.publisher.post(`/v1/sites/${s.siteId}/events`, body, { headers: { 'idempotency-key': `other-${Date.now()}` } });
    assert.equal(c.status, 202, show(c));
    assert.notDeepEqual(c.json.ids, a.json.ids);
    await waitFor(() => r2.requests.length >= 4, 10000, { message: '4 deliveries' });
    await sleep(800);
    assert.equal(r2.requests.length, 4, 'the repeat created no deliveries');
    const ds = await listDeliveries(s, w.id);
    assert.equal(ds.length, 4);
  });

  test('deliveries pagination with limit=2 walks every delivery once', T, async () => {
    const s = await setupSite(server);
    const r2 = await receiver();
    const w = await createWebhook(s, { payloadUrl: r2.url() });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(...(await publish(s, { event: 'CREATE', entity: 'Agreement', entityId: i })).ids);
    const seen = [];
    const pages = [];
    let cursor = null;
    for (let n = 0; n < 10; n++) {
      const q = new URLSearchParams({ limit: '2' });
      if (cursor) q.set('cursor', cursor);
      const r = await s.admin.get(`/v1/sites/${s.siteId}/webhooks/${w.id}/deliveries?${q}`);
      assert.equal(r.status, 200, show(r));
      assert.ok(r.json.data.length <= 2, 'page respects limit');
      pages.push(r.json.data.length);
      seen.push(...r.json.data);
      cursor = r.json.nextCursor;
      assert.ok(cursor === null || typeof cursor === 'string', `nextCursor: ${cursor}`);
      if (!cursor) break;
    }
    assert.equal(cursor, null, 'last page has nextCursor null');
    assert.deepEqual(pages.slice(0, 2), [2, 2]);
    assert.equal(seen.length, 5, `page sizes ${pages}`);
    assert.equal(new Set(seen.map((d) => d.id)).size, 5, 'no delivery twice');
    assert.deepEqual(seen.map((d) => d.eventId).sort(), [...ids].sort());
    // Newest first.
    assert.deepEqual(seen.map((d) => d.eventId), [...ids].reverse(), 'newest first');
    for (const d of seen) assert.match(d.id, /^dlv_/);
  });

  test('batch of 1000 accepted: 1000 ids, in request order', T, async () => {
    const s = await setupSite(server);
    const r2 = await receiver();
    const w = await createWebhook(s, { payloadUrl: r2.url(), events: ['CREATE'], sendEverything: false, entities: ['Asset'] });
    const events = Array.from({ length: 1000 }, (_, i) => ({ event: 'CREATE', entity: 'Asset', entityId: i }));
    const res = await publish(s, events);
    assert.equal(res.accepted, 1000);
    assert.equal(res.ids.length, 1000);
    assert.equal(new Set(res.ids).size, 1000, 'ids distinct');
    for (const id of res.ids) assert.match(id, /^evt_/);
    const ds = await listDeliveries(s, w.id);
    assert.equal(ds.length, 1000);
    const byEvent = new Map(ds.map((d) => [d.eventId, d.entityId]));
    const mismatches = res.ids.map((id, i) => [i, byEvent.get(id)]).filter(([i, e]) => e !== i);
    assert.deepEqual(mismatches.slice(0, 5), [], 'ids[i] is the event with entityId i');
    await waitFor(() => r2.requests.length >= 1000, 20000, {
      message: '1000 deliveries', describe: () => `${r2.requests.length} received`,
    });
  });
});

describe('address guard (server without --allow-private-network)', () => {
  let strict;
  before(async () => { strict = await startServer({ allowPrivateNetwork: false }); });
  after(async () => { if (strict) await strict.dispose(); });

  test('literal private payload URLs are refused with 422 and change nothing', T, async () => {
    const site = await setupSite(strict);
    const ok = await createWebhook(site, { payloadUrl: 'https://example.com/hook' });
    const urls = [
      'http://127.0.0.1:9/hooks',
      'http://10.1.2.3/hooks',
      'http://192.168.0.1/hooks',
      'http://172.16.5.4/hooks',
      'http://169.254.169.254/latest/meta-data',
      'http://100.64.0.1/hooks',
      'http://0.0.0.0/hooks',
      'http://224.0.0.1/hooks',
      'http://[::1]/hooks',
      'http://[::ffff:127.0.0.1]/hooks',
      'http://[fe80::1]/hooks',
      'http://[fd00::1]/hooks',
    ];
    const failures = [];
    for (const u of urls) {
      const r = await site.admin.post(`/v1/sites/${site.siteId}/webhooks`, {
        payloadUrl: u, secret: SECRET, events: ['CREATE'], method: 'POST', sendEverything: true,
      });
      if (r.status !== 422 || !/^application\/problem\+json/.test(r.headers['content-type'] ?? '')) failures.push(`${u} → ${show(r)}`);
    }
    assert.deepEqual(failures, [], 'every private literal refused with 422 problem+json');
    const l = await site.admin.get(`/v1/sites/${site.siteId}/webhooks`);
    assert.deepEqual(l.json.data.map((w) => w.id), [ok.id], 'list unchanged');
    // PATCH to a private literal is refused too.
    const p = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${ok.id}`, { payloadUrl: 'http://127.0.0.1/x' });
    assertProblem(p, 422, 'PATCH to private literal');
  });
});
