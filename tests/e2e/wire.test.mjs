// What the receiver gets: SPEC.md §2 (compatibility contract — exact).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import {
  SECRET, TEST_VECTOR, createWebhook, headerHasSignature, legacySignature, listDeliveries, publish,
  setupSite, standardSignature, useServer, waitFor,
} from './support.mjs';

const EXPECTED_BODY = '{"event":"CREATE","entity":"Agreement","entityId":25}';
const T = { timeout: 30000 };

const { server, receiver } = useServer({ retrySchedule: '0s,1s,1s' });

function assertFreshTimestamp(h) {
  const ts = Number(h['webhook-timestamp']);
  assert.ok(Number.isInteger(ts), `webhook-timestamp is integer unix seconds: ${h['webhook-timestamp']}`);
  assert.ok(Math.abs(ts - Date.now() / 1000) < 60, `webhook-timestamp ${ts} within 60 s of now`);
}

describe('POST delivery', () => {
  test('body, content type, legacy signature, user agent, no Expect — byte exact', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    const wh = await createWebhook(site, {
      payloadUrl: rx.url('/hooks'), method: 'POST', events: ['CREATE'], sendEverything: false, entities: ['Agreement'],
    });
    const { ids } = await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
    assert.equal(ids.length, 1);
    await waitFor(() => rx.requests.length >= 1, 10000, { message: 'one POST at the receiver' });
    const req = rx.requests[0];
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hooks');
    assert.equal(req.body.toString('latin1'), EXPECTED_BODY, 'body is byte-exact');
    assert.ok(req.body.equals(Buffer.from(EXPECTED_BODY)));
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-ioffice-signature'], TEST_VECTOR);
    assert.match(req.headers['user-agent'] ?? '', /^hookd\//, `user-agent: ${req.headers['user-agent']}`);
    assert.equal(req.headers.expect, undefined, 'no Expect header');
    assert.match(req.headers['webhook-id'] ?? '', /^dlv_/);
    assertFreshTimestamp(req.headers);

    // webhook-id is the delivery's id, as the API shows it.
    const dl = await waitFor(async () => {
      const d = await listDeliveries(site, wh.id);
      return d.length === 1 && d[0].state === 'succeeded' ? d : null;
    }, 10000, { message: 'delivery succeeded' });
    assert.equal(dl[0].id, req.headers['webhook-id']);
    assert.equal(dl[0].eventId, ids[0]);
    assert.equal(rx.requests.length, 1, 'exactly one request');
  });

  test('Standard Webhooks signature verifies with the standardwebhooks library', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    await createWebhook(site, { payloadUrl: rx.url('/hooks'), method: 'POST' });
    await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
    await waitFor(() => rx.requests.length >= 1, 10000, { message: 'one POST' });
    const req = rx.requests[0];
    const wh = new Webhook(Buffer.from(SECRET).toString('base64'));
    const payload = wh.verify(req.body.toString('utf8'), req.headers);
    assert.deepEqual(payload, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
    // And with the whsec_ form.
    new Webhook(`whsec_${Buffer.from(SECRET).toString('base64')}`).verify(req.body.toString('utf8'), req.headers);
    // A tampered body must not verify.
    assert.throws(() => wh.verify(req.body.toString('utf8').replace('25', '26'), req.headers));
  });

  test('string entity id stays a JSON string; integer id a JSON number', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    await createWebhook(site, { payloadUrl: rx.url('/hooks'), method: 'POST' });
    await publish(site, [
      { event: 'CREATE', entity: 'Agreement', entityId: '25' },
      { event: 'UPDATE', entity: 'Agreement', entityId: 'A-7.x~y_z' },
    ]);
    await waitFor(() => rx.requests.length >= 2, 10000, { message: 'two POSTs' });
    const bodies = rx.requests.map((r) => r.text).sort();
    assert.deepEqual(bodies, [
      '{"event":"CREATE","entity":"Agreement","entityId":"25"}',
      '{"event":"UPDATE","entity":"Agreement","entityId":"A-7.x~y_z"}',
    ].sort());
    const byEvent = Object.fromEntries(rx.requests.map((r) => [JSON.parse(r.text).event, r]));
    assert.equal(byEvent.CREATE.headers['x-ioffice-signature'], TEST_VECTOR, 'string "25" signs like 25');
    assert.equal(byEvent.UPDATE.headers['x-ioffice-signature'], legacySignature(SECRET, 'UPDATE', 'Agreement', 'A-7.x~y_z'));
  });

  test('large 64-bit integer id is delivered exactly', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    await createWebhook(site, { payloadUrl: rx.url('/hooks'), method: 'POST' });
    // 2^63-1 is not representable in a JS number, so send the raw JSON text.
    const res = await site.publisher.post(`/v1/sites/${site.siteId}/events`,
      '{"event":"DELETE","entity":"Agreement","entityId":9223372036854775807}',
      { headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 202, res.text);
    await waitFor(() => rx.requests.length >= 1, 10000, { message: 'one POST' });
    assert.equal(rx.requests[0].text, '{"event":"DELETE","entity":"Agreement","entityId":9223372036854775807}');
    assert.equal(rx.requests[0].headers['x-ioffice-signature'],
      legacySignature(SECRET, 'DELETE', 'Agreement', '9223372036854775807'));
  });

  test('payload URL query string is kept on POST', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    await createWebhook(site, { payloadUrl: rx.url('/hooks?x=1'), method: 'POST' });
    await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
    await waitFor(() => rx.requests.length >= 1, 10000, { message: 'one POST' });
    assert.equal(rx.requests[0].url, '/hooks?x=1');
  });
});

describe('GET delivery', () => {
  test('path joining: /hooks, /hooks/ and /hooks?x=1', T, async () => {
    const site = await setupSite(server);
    const cases = [
      { payload: '/hooks', expected: '/hooks/CREATE/Agreement/25' },
      { payload: '/hooks/', expected: '/hooks/CREATE/Agreement/25' },
      { payload: '/hooks?x=1', expected: '/hooks/CREATE/Agreement/25?x=1' },
    ];
    for (const c of cases) {
      c.rx = await receiver();
      await createWebhook(site, { payloadUrl: c.rx.url(c.payload), method: 'GET', events: ['CREATE'], sendEverything: false, entities: ['Agreement'] });
    }
    await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
    await waitFor(() => cases.every((c) => c.rx.requests.length >= 1), 10000, {
      message: 'one GET at each receiver',
      describe: () => JSON.stringify(cases.map((c) => c.rx.requests.map((r) => r.url))),
    });
    for (const c of cases) {
      const req = c.rx.requests[0];
      assert.equal(req.method, 'GET', `method for ${c.payload}`);
      assert.equal(req.url, c.expected, `payload URL ${c.payload}`);
      assert.equal(req.body.length, 0, 'GET has no body');
      assert.equal(req.headers['x-ioffice-signature'], TEST_VECTOR);
      assert.match(req.headers['user-agent'] ?? '', /^hookd\//);
      assert.match(req.headers['webhook-id'] ?? '', /^dlv_/);
      assertFreshTimestamp(req.headers);
      const sig = standardSignature(SECRET, req.headers['webhook-id'], req.headers['webhook-timestamp'], '/CREATE/Agreement/25');
      assert.ok(headerHasSignature(req.headers['webhook-signature'], sig),
        `webhook-signature ${req.headers['webhook-signature']} should contain v1,${sig} (HMAC over id.ts./CREATE/Agreement/25)`);
    }
  });

  test('string id in the path; dot segments are not collapsed', T, async () => {
    const site = await setupSite(server);
    const rx = await receiver();
    await createWebhook(site, { payloadUrl: rx.url('/hooks'), method: 'GET' });
    await publish(site, [
      { event: 'UPDATE', entity: 'Agreement', entityId: 'A-7.x~y_z' },
      { event: 'UPDATE', entity: 'Agreement', entityId: '..' },
    ]);
    await waitFor(() => rx.requests.length >= 2, 10000, {
      message: 'two GETs', describe: () => JSON.stringify(rx.requests.map((r) => r.url)),
    });
    // Unreserved characters may be sent literally or percent-encoded (RFC 3986
    // equivalent); either way the decoded last segment is the id, and ".." (a
    // valid id) must reach the receiver as a segment, not resolve away.
    const prefix = '/hooks/UPDATE/Agreement/';
    const urls = rx.requests.map((r) => r.url);
    for (const r of rx.requests) assert.ok(r.path.startsWith(prefix) && !r.path.slice(prefix.length).includes('/'), `delivered to ${r.url}; all: ${JSON.stringify(urls)}`);
    const ids = rx.requests.map((r) => decodeURIComponent(r.path.slice(prefix.length))).sort();
    assert.deepEqual(ids, ['..', 'A-7.x~y_z'], `decoded ids from ${JSON.stringify(urls)}`);
    const dots = rx.requests.find((r) => decodeURIComponent(r.path.slice(prefix.length)) === '..');
    assert.equal(dots.headers['x-ioffice-signature'], legacySignature(SECRET, 'UPDATE', 'Agreement', '..'));
  });
});

describe('retries keep the delivery id', () => {
  test('webhook-id is the same on every attempt; each attempt is signed', T, async () => {
    const site = await setupSite(server);
    for (const method of ['POST', 'GET']) {
      const rx = await receiver({ sequence: [500], status: 200 });
      await createWebhook(site, { payloadUrl: rx.url('/hooks'), method, events: ['CREATE'], sendEverything: false, entities: ['Agreement'] });
      // Other webhooks of this site get it too; look only at this receiver.
      await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
      await waitFor(() => rx.requests.length >= 2, 15000, { message: `${method}: two attempts` });
      const [a, b] = rx.requests;
      assert.match(a.headers['webhook-id'], /^dlv_/);
      assert.equal(a.headers['webhook-id'], b.headers['webhook-id'], `${method}: same webhook-id on retry`);
      for (const r of [a, b]) {
        assert.equal(r.headers['x-ioffice-signature'], TEST_VECTOR);
        const content = method === 'POST' ? r.text : '/CREATE/Agreement/25';
        const sig = standardSignature(SECRET, r.headers['webhook-id'], r.headers['webhook-timestamp'], content);
        assert.ok(headerHasSignature(r.headers['webhook-signature'], sig), `${method}: attempt signature valid`);
      }
      if (method === 'POST') assert.equal(b.text, EXPECTED_BODY);
      else assert.equal(b.url, '/hooks/CREATE/Agreement/25');
    }
  });
});
