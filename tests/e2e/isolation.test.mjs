// Isolation: a receiver that hangs until hookd's timeout and one that always
// fails do not delay three healthy receivers; the hanging one never has more
// than maxInFlight (default 8) requests open at once.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  createWebhook, getWebhook, listDeliveries, publish, setupSite, sleep, startReceiver, startServer, waitFor,
} from './support.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

const N = 200;

test('hanging and failing receivers do not delay healthy ones; per-webhook in-flight limit holds', { timeout: 45000 }, async (t) => {
  // Many attempts, 1 s apart: the bad webhooks keep failing for the whole test.
  const server = await startServer({ retrySchedule: '0s,1s,1s,1s,1s,1s,1s,1s,1s,1s' });
  cleanup.push(() => server.dispose());
  const hanging = await startReceiver({ hang: true });
  const failing = await startReceiver({ status: 500, body: 'broken' });
  const healthy = [];
  for (let i = 0; i < 3; i++) healthy.push(await startReceiver({ status: 200, delayMs: 2 }));
  // Closed before the server is stopped (LIFO): hung connections are dropped.
  cleanup.push(async () => { for (const r of [hanging, failing, ...healthy]) await r.close(); });

  const site = await setupSite(server);
  const whHang = await createWebhook(site, { payloadUrl: hanging.url(), timeoutMs: 2000 });
  assert.equal(whHang.maxInFlight, 8, 'default maxInFlight');
  const whFail = await createWebhook(site, { payloadUrl: failing.url() });
  const whHealthy = [];
  for (const r of healthy) whHealthy.push(await createWebhook(site, { payloadUrl: r.url() }));

  const events = Array.from({ length: N }, (_, i) => ({ event: 'CREATE', entity: 'Agreement', entityId: `iso-${i}` }));
  const t0 = Date.now();
  await publish(site, events);

  await waitFor(() => healthy.every((r) => r.succeeded.length >= N), 5000, {
    interval: 50,
    message: `every healthy receiver got all ${N} events within 5 s`,
    describe: () => `healthy=${healthy.map((r) => r.succeeded.length)} hanging=${hanging.requests.length} failing=${failing.requests.length}`,
  });
  const tookMs = Date.now() - t0;
  t.diagnostic(`healthy receivers got ${N} events each in ${tookMs} ms; meanwhile hanging saw ${hanging.requests.length} requests (max ${hanging.maxConcurrent} concurrent), failing saw ${failing.requests.length}`);

  for (const r of healthy) {
    const ids = new Set(r.succeeded.map((q) => JSON.parse(q.text).entityId));
    assert.equal(ids.size, N, 'each healthy receiver got every event');
  }
  // The bad ones were being tried meanwhile and are not done.
  assert.ok(hanging.requests.length >= 1, 'the hanging receiver was contacted');
  assert.ok(hanging.concurrent >= 1, 'requests are still hanging when the healthy ones are done');
  assert.ok(failing.requests.length >= 1, 'the failing receiver was contacted');
  const hangPending = await listDeliveries(site, whHang.id, { state: 'pending' });
  const failPending = await listDeliveries(site, whFail.id, { state: 'pending' });
  assert.equal(hangPending.length, N, 'all of the hanging webhook\'s deliveries are still pending');
  assert.equal(failPending.length, N, 'all of the failing webhook\'s deliveries are still pending');
  for (const w of whHealthy) {
    // The last answers may still be being recorded.
    let ok = [];
    await waitFor(async () => {
      ok = await listDeliveries(site, w.id, { state: 'succeeded' });
      return ok.length === N;
    }, 3000, { message: `healthy webhook ${w.id}: ${N} succeeded`, describe: () => `${ok.length}` });
  }

  // Watch the hanging receiver across at least two timeout rounds (2 s each).
  await sleep(4500);
  assert.ok(hanging.requests.length > 8, `hookd kept trying the hanging receiver after timeouts (${hanging.requests.length} requests)`);
  assert.ok(hanging.maxConcurrent <= 8, `hanging receiver saw ${hanging.maxConcurrent} concurrent requests (maxInFlight 8)`);
  // Timeouts are enforced: the first requests were abandoned by hookd ~2 s after they started.
  const first = hanging.requests[0];
  const abandoned = hanging.requests.filter((q) => q.at - first.at >= 1500);
  assert.ok(abandoned.length >= 1, 'new requests reached the hanging receiver after the first ones timed out');
  assert.ok(failing.requests.length > 8, `failing receiver retried (${failing.requests.length})`);
  // Still enabled: these are ordinary failures (no auto-disable configured here).
  assert.equal((await getWebhook(site, whFail.id)).enabled, true);
  const d = await listDeliveries(site, whHang.id);
  const withTimeout = d.filter((x) => x.lastError === 'timeout');
  assert.ok(withTimeout.length >= 1, `hanging webhook deliveries record lastError "timeout": ${JSON.stringify(d.slice(0, 2))}`);
  t.diagnostic(`after ${Date.now() - t0} ms: hanging receiver ${hanging.requests.length} requests, max ${hanging.maxConcurrent} concurrent; failing ${failing.requests.length}`);
});

test('a backlog across several webhooks is sent without idle pauses', { timeout: 45000 }, async (t) => {
  const server = await startServer({ retrySchedule: '0s,1s,1s' });
  cleanup.push(() => server.dispose());
  const rxs = [];
  for (let i = 0; i < 3; i++) rxs.push(await startReceiver({ status: 200 }));
  cleanup.push(async () => { for (const r of rxs) await r.close(); });
  const site = await setupSite(server);
  for (const r of rxs) await createWebhook(site, { payloadUrl: r.url() });
  const M = 600;
  const t0 = Date.now();
  await publish(site, Array.from({ length: M }, (_, i) => ({ event: 'UPDATE', entity: 'Room', entityId: `backlog-${i}` })));
  await waitFor(() => rxs.every((r) => r.succeeded.length >= M), 20000, {
    interval: 50, message: `${M} deliveries at each of 3 receivers`, describe: () => `${rxs.map((r) => r.succeeded.length)}`,
  });
  const took = Date.now() - t0;
  // Largest pause between two consecutive requests (any receiver) while work was due.
  const at = rxs.flatMap((r) => r.requests.map((q) => q.at)).sort((a, b) => a - b);
  // Pauses longer than 100 ms between consecutive requests, and where.
  const pauses = [];
  for (let i = 1; i < at.length; i++) if (at[i] - at[i - 1] > 100) pauses.push(`${at[i] - at[i - 1]} ms after ${i}`);
  const idle = pauses.reduce((a, p) => a + parseInt(p, 10), 0);
  t.diagnostic(`${3 * M} deliveries in ${took} ms; pauses > 100 ms: ${pauses.join(', ') || 'none'}`);
  assert.ok(idle < 400, `the dispatcher sat idle for ${idle} ms in total while deliveries were due (pauses: ${pauses.join(', ')} of ${3 * M} requests)`);
});
