// Auto-disable: a webhook whose attempts have all failed for
// --auto-disable-after (2 s here) is disabled with a reason and a time;
// re-enabling it resumes its pending deliveries. A webhook that also has
// successes in that period stays enabled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createWebhook, getDelivery, getWebhook, listDeliveries, publish, rawRequest, setupSite, sleep, useServer, waitFor,
} from './support.mjs';

const T = { timeout: 40000 };
const { server, receiver } = useServer({ retrySchedule: '0s,1s,1s,1s,1s,1s', extraArgs: ['--auto-disable-after', '2s'] });

test('always failing for 2 s → disabled with reason and time; re-enabled → pending deliveries resume and succeed', T, async (t) => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 500, body: 'down' });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  const { ids } = await publish(site, [
    { event: 'CREATE', entity: 'Agreement', entityId: 'ad-1' },
    { event: 'UPDATE', entity: 'Agreement', entityId: 'ad-2' },
  ]);
  await waitFor(() => rx.requests.length >= 1, 5000, { message: 'first failing attempt' });
  const firstFailure = rx.requests[0].at;

  let w;
  await waitFor(async () => {
    w = await getWebhook(site, wh.id);
    return w.enabled === false;
  }, 8000, { message: 'webhook auto-disabled', describe: () => `${JSON.stringify(w)}; ${rx.requests.length} attempts` });
  const disabledSeen = Date.now();
  t.diagnostic(`disabled ${disabledSeen - firstFailure} ms after the first failure: reason=${JSON.stringify(w.disabledReason)} disabledAt=${w.disabledAt}`);
  assert.equal(typeof w.disabledReason, 'string', `disabledReason: ${JSON.stringify(w)}`);
  assert.ok(w.disabledReason.length > 0);
  assert.ok(typeof w.disabledAt === 'string' && !Number.isNaN(Date.parse(w.disabledAt)), `disabledAt: ${w.disabledAt}`);
  const disabledAt = Date.parse(w.disabledAt);
  assert.ok(disabledAt - firstFailure >= 1900, `not disabled before 2 s of failures (${disabledAt - firstFailure} ms)`);
  assert.ok(disabledAt - firstFailure < 5000, `disabled soon after 2 s of failures (${disabledAt - firstFailure} ms)`);
  // Counted for the HookdWebhookAutoDisabled alert (ops/prometheus).
  const metrics = await rawRequest(server.baseUrl, 'GET', '/metrics');
  assert.match(metrics.text, /^hookd_webhooks_disabled_total\{reason="failing"\} [1-9]\d*$/m, 'hookd_webhooks_disabled_total counts it');

  // Disabled: no more attempts; the deliveries wait (pending, not failed).
  await sleep(300);
  const n = rx.requests.length;
  await sleep(1500);
  assert.equal(rx.requests.length, n, 'no attempts while disabled');
  const waiting = await listDeliveries(site, wh.id);
  assert.equal(waiting.length, 2);
  for (const d of waiting) assert.equal(d.state, 'pending', `delivery waits while the webhook is disabled: ${JSON.stringify(d)}`);

  // Fix the receiver and re-enable.
  rx.program({ status: 200, body: 'back' });
  const r = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${wh.id}`, { enabled: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.enabled, true);
  assert.equal(r.json.disabledReason, null);
  assert.equal(r.json.disabledAt, null);
  let last;
  await waitFor(async () => {
    last = await listDeliveries(site, wh.id);
    return last.length === 2 && last.every((d) => d.state === 'succeeded');
  }, 10000, { message: 'pending deliveries resumed and succeeded', describe: () => JSON.stringify(last.map((d) => [d.state, d.attemptCount])) });
  assert.deepEqual(new Set(last.map((d) => d.eventId)), new Set(ids));
  const full = await getDelivery(site, last[0].id);
  assert.equal(full.attempts.at(-1).status, 200);
  assert.equal(full.attempts.at(-1).responseSnippet, 'back');

  // Still enabled afterwards; new events flow.
  await publish(site, { event: 'DELETE', entity: 'Agreement', entityId: 'ad-3' });
  await waitFor(() => rx.succeeded.some((q) => JSON.parse(q.text).entityId === 'ad-3'), 5000, { message: 'new event after re-enable' });
  const after2 = await getWebhook(site, wh.id);
  assert.equal(after2.enabled, true);
  assert.equal(after2.disabledReason, null);
  assert.equal(after2.disabledAt, null);
});

test('re-enabled but still failing → disabled again only after another 2 s of failures', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 503, body: 'down' });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  await publish(site, Array.from({ length: 3 }, (_, i) => ({ event: 'CREATE', entity: 'Room', entityId: `again-${i}` })));
  let w;
  await waitFor(async () => { w = await getWebhook(site, wh.id); return !w.enabled; }, 8000, { message: 'first auto-disable', describe: () => JSON.stringify(w) });
  const r = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${wh.id}`, { enabled: true });
  assert.equal(r.status, 200, r.text);
  const reenabled = Date.now();
  // Keep failing traffic going; the failure clock restarts at re-enable, so
  // the old failures must not count.
  let disabledAgain = null;
  for (let i = 0; i < 40 && Date.now() - reenabled < 8000; i++) {
    await publish(site, { event: 'UPDATE', entity: 'Room', entityId: `again-more-${i}` });
    await sleep(300);
    w = await getWebhook(site, wh.id);
    if (!w.enabled) { disabledAgain = w; break; }
  }
  assert.ok(disabledAgain, `disabled again within 8 s of continued failures: ${JSON.stringify(w)}`);
  const gap = Date.parse(disabledAgain.disabledAt) - reenabled;
  assert.ok(gap >= 1900, `disabled again ${gap} ms after re-enabling: failures from before the re-enable were counted`);
  assert.ok(rx.requests.some((q) => q.at >= reenabled), 'attempts resumed after re-enable');
});

test('a webhook that fails but also succeeds is not disabled', T, async (t) => {
  const site = await setupSite(server);
  // First 1.5 s: every request fails. Then every other request fails.
  let start = null;
  let count = 0;
  const rx = await receiver(() => {
    const now = Date.now();
    if (start === null) start = now;
    count += 1;
    if (now - start < 1500) return { status: 500 };
    return { status: count % 2 === 0 ? 500 : 200 };
  });
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  const t0 = Date.now();
  let i = 0;
  let w;
  // Keep traffic going for ~4.5 s (well past the 2 s threshold), checking the webhook throughout.
  while (Date.now() - t0 < 4500 && i < 100) {
    await publish(site, { event: 'UPDATE', entity: 'Desk', entityId: `mixed-${i++}` });
    await sleep(250);
    w = await getWebhook(site, wh.id);
    assert.equal(w.enabled, true, `disabled after ${Date.now() - t0} ms although some attempts succeeded: ${JSON.stringify(w)}`);
  }
  const failures = rx.requests.filter((q) => q.status >= 300).length;
  const successes = rx.succeeded.length;
  t.diagnostic(`${i} events, ${failures} failed and ${successes} successful attempts over ${Date.now() - t0} ms`);
  assert.ok(failures >= 3 && successes >= 3, `mixed results: ${failures} failures, ${successes} successes`);
  assert.equal(w.disabledReason, null);
  assert.equal(w.disabledAt, null);
});

test('410 Gone disables at once: nothing queued is sent, every delivery waits pending, enabling resumes them', T, async () => {
  const site = await setupSite(server);
  let gone = true;
  const rx = await receiver(() => ({ status: gone ? 410 : 200 }));
  const wh = await createWebhook(site, { payloadUrl: rx.url(), maxInFlight: 1 });
  const events = Array.from({ length: 10 }, (_, i) => ({ event: 'CREATE', entity: 'Room', entityId: `gone-${i}` }));
  await publish(site, events);
  let w;
  await waitFor(async () => { w = await getWebhook(site, wh.id); return w.enabled === false; }, 8000,
    { message: 'webhook disabled by 410', describe: () => JSON.stringify(w) });
  assert.match(w.disabledReason, /410/);
  await sleep(700);
  assert.equal(rx.requests.length, 1, `only the request that got 410 was sent (${rx.requests.length})`);
  const waiting = await listDeliveries(site, wh.id);
  assert.equal(waiting.length, 10);
  assert.deepEqual([...new Set(waiting.map((d) => d.state))], ['pending'], JSON.stringify(waiting.map((d) => d.state)));

  gone = false;
  const r = await site.admin.patch(`/v1/sites/${site.siteId}/webhooks/${wh.id}`, { enabled: true });
  assert.equal(r.status, 200, r.text);
  let states = [];
  await waitFor(async () => {
    states = (await listDeliveries(site, wh.id)).map((d) => d.state);
    return states.every((s) => s === 'succeeded');
  }, 15000, { message: 'every delivery succeeds after enabling', describe: () => JSON.stringify(states) });
});
