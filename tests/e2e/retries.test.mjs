// Retries, final failure, manual retry, 410 auto-disable. Server runs with
// --retry-schedule 0s,1s,1s (3 attempts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createWebhook, getDelivery, getWebhook, listDeliveries, publish, setupSite, show, sleep,
  useServer, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
const { server, receiver } = useServer({ retrySchedule: '0s,1s,1s' });

async function oneDelivery(site, whId, pred, msg, timeoutMs = 15000) {
  let last;
  return waitFor(async () => {
    const d = await listDeliveries(site, whId);
    last = d;
    return d.length === 1 && pred(d[0]) ? d[0] : null;
  }, timeoutMs, { message: msg, describe: () => JSON.stringify(last) });
}

test('500, 500, then 200 → succeeded after 3 attempts with the same webhook-id', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ sequence: [500, 500], status: 200 });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  const { ids } = await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
  const d = await oneDelivery(site, wh.id, (x) => x.state === 'succeeded', 'delivery succeeded');
  assert.equal(d.eventId, ids[0]);
  assert.equal(d.attemptCount, 3);
  const full = await getDelivery(site, d.id);
  assert.equal(full.state, 'succeeded');
  assert.deepEqual(full.attempts.map((a) => a.status), [500, 500, 200]);
  assert.deepEqual(full.attempts.map((a) => a.number), [1, 2, 3]);
  for (const a of full.attempts) {
    assert.equal(typeof a.startedAt, 'string');
    assert.ok(!Number.isNaN(Date.parse(a.startedAt)), `startedAt parses: ${a.startedAt}`);
    assert.equal(typeof a.durationMs, 'number');
    assert.equal(typeof a.status, 'number', `HTTP status recorded: ${JSON.stringify(a)}`);
  }
  assert.equal(full.attempts[2].responseSnippet, 'ok');
  assert.equal(rx.requests.length, 3);
  const wid = new Set(rx.requests.map((r) => r.headers['webhook-id']));
  assert.deepEqual([...wid], [d.id], 'same webhook-id (= delivery id) on every attempt');
  // The schedule is 0s,1s,1s: retries are spaced, not immediate.
  const gaps = rx.requests.slice(1).map((r, i) => r.at - rx.requests[i].at);
  for (const g of gaps) assert.ok(g >= 500, `gap between attempts ${g} ms should follow the 1 s schedule`);
});

test('always 500 → failed after 3 attempts, nextAttemptAt null; manual retry after fix → succeeded', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 500, body: 'boom' });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  await publish(site, { event: 'UPDATE', entity: 'Room', entityId: 'r-1' });
  const d = await oneDelivery(site, wh.id, (x) => x.state === 'failed', 'delivery failed');
  assert.equal(d.attemptCount, 3);
  assert.equal(d.nextAttemptAt, null);
  const full = await getDelivery(site, d.id);
  assert.deepEqual(full.attempts.map((a) => a.status), [500, 500, 500]);
  assert.equal(full.attempts[0].responseSnippet, 'boom');
  await sleep(1500);
  assert.equal(rx.requests.length, 3, 'no 4th attempt after failed');

  const failed = await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${wh.id}/deliveries?state=failed`);
  assert.equal(failed.status, 200, show(failed));
  assert.deepEqual(failed.json.data.map((x) => x.id), [d.id]);
  const succ = await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${wh.id}/deliveries?state=succeeded`);
  assert.deepEqual(succ.json.data, []);

  // Receiver fixed; manual retry.
  rx.program({ status: 200 });
  const r = await site.admin.post(`/v1/sites/${site.siteId}/deliveries/${d.id}/retry`, {});
  assert.equal(r.status, 202, show(r));
  const ok = await oneDelivery(site, wh.id, (x) => x.state === 'succeeded', 'retried delivery succeeded', 10000);
  assert.equal(ok.id, d.id);
  assert.equal(ok.attemptCount, 4);
  assert.equal(rx.requests.length, 4);
  assert.equal(rx.requests[3].headers['webhook-id'], d.id);
  const full2 = await getDelivery(site, d.id);
  assert.deepEqual(full2.attempts.map((a) => a.status), [500, 500, 500, 200]);
});

test('manual retry through the webhook-scoped route works too', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 503 });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  await publish(site, { event: 'DELETE', entity: 'Desk', entityId: 3 });
  const d = await oneDelivery(site, wh.id, (x) => x.state === 'failed', 'delivery failed');
  rx.program({ status: 204 });
  const r = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${wh.id}/deliveries/${d.id}/retry`, {});
  assert.equal(r.status, 202, show(r));
  await oneDelivery(site, wh.id, (x) => x.state === 'succeeded', 'retried delivery succeeded', 10000);
});

test('receiver answers 410 → webhook disabled with a reason', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 410 });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 1 });
  let last;
  const w = await waitFor(async () => {
    last = await getWebhook(site, wh.id);
    return last.enabled === false ? last : null;
  }, 10000, { message: 'webhook disabled after 410', describe: () => JSON.stringify(last) });
  assert.equal(typeof w.disabledReason, 'string');
  assert.ok(w.disabledReason.length > 0, 'disabledReason non-empty');
  assert.ok(w.disabledAt && !Number.isNaN(Date.parse(w.disabledAt)), `disabledAt: ${w.disabledAt}`);
  assert.equal(rx.requests.length, 1, '410 is not retried');
  // Later events do not reach a disabled webhook.
  await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 2 });
  await sleep(1000);
  assert.equal(rx.requests.length, 1, 'disabled webhook gets nothing more');
  // Re-enabling clears the reason.
  const r = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${wh.id}`, { enabled: true });
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json.enabled, true);
  assert.equal(r.json.disabledReason, null);
  assert.equal(r.json.disabledAt, null);
});

test('a hanging receiver does not delay another webhook', T, async () => {
  const site = await setupSite(server);
  const slow = await receiver({ hang: true });
  const fast = await receiver();
  await createWebhook(site, { payloadUrl: slow.url(), timeoutMs: 10000 });
  await createWebhook(site, { payloadUrl: fast.url() });
  const events = Array.from({ length: 20 }, (_, i) => ({ event: 'CREATE', entity: 'Agreement', entityId: i }));
  const t0 = Date.now();
  await publish(site, events);
  await waitFor(() => fast.requests.length >= 20, 5000, {
    message: '20 deliveries at the fast receiver while the other hangs',
    describe: () => `fast=${fast.requests.length} slow=${slow.requests.length}`,
  });
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(slow.requests.length >= 1, 'the hanging receiver was contacted');
  assert.ok(slow.requests.length <= 8, `per-webhook in-flight limit (default 8): ${slow.requests.length} concurrent`);
  await slow.close();
});
