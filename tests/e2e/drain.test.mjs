// Graceful shutdown: SIGTERM stops accepting connections, lets deliveries in
// flight finish (up to --drain-timeout), records them and exits 0; deliveries
// still in flight at the deadline are given back to the queue.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  createWebhook, getDelivery, listDeliveries, publish, rawRequest, setupSite, sleep, startReceiver, startServer, waitFor,
} from './support.mjs';

const T = { timeout: 40000 };
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

/** Resolves to 'refused' | 'reset' | `HTTP <status>` | `error <code>` for a fresh connection. */
async function connectOutcome(baseUrl) {
  try {
    const r = await rawRequest(baseUrl, 'GET', '/healthz', { timeoutMs: 1500 });
    return `HTTP ${r.status}`;
  } catch (e) {
    if (e.code === 'ECONNREFUSED') return 'refused';
    if (e.code === 'ECONNRESET') return 'reset';
    return `error ${e.code ?? e.message}`;
  }
}

test('SIGTERM with deliveries in flight: refuses new connections, finishes them, exits 0, records them as succeeded', T, async (t) => {
  const server = await startServer({ retrySchedule: '0s,1s,1s', extraArgs: ['--drain-timeout', '5s'] });
  cleanup.push(() => server.dispose());
  const rx = await startReceiver({ status: 200, delayMs: 1000, body: 'slow ok' });
  cleanup.push(() => rx.close());
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  const N = 4;
  await publish(site, Array.from({ length: N }, (_, i) => ({ event: 'CREATE', entity: 'Agreement', entityId: `drain-${i}` })));
  await waitFor(() => rx.requests.length >= N, 5000, { message: `${N} requests in flight at the receiver`, describe: () => `${rx.requests.length}` });
  assert.equal(rx.succeeded.length, 0, 'none answered yet (receiver takes 1 s)');

  const baseUrl = server.baseUrl;
  const t0 = Date.now();
  assert.ok(server.signal('SIGTERM'), 'SIGTERM sent');
  // While the receiver is still busy (it answers ~1 s after each request
  // arrived), a new connection must be refused.
  await sleep(300);
  const stillInFlight = rx.succeeded.length;
  const outcome = await connectOutcome(baseUrl);
  assert.equal(stillInFlight, 0, 'the probe ran while the deliveries were still in flight');
  assert.equal(outcome, 'refused', `a new connection after SIGTERM: ${outcome}`);

  const exit = await server.waitExit(8000);
  const took = Date.now() - t0;
  assert.ok(exit, `hookd still running ${took} ms after SIGTERM (drain timeout 5 s); log:\n${server.logTail(20)}`);
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, `exit status after SIGTERM; log:\n${server.logTail(20)}`);
  t.diagnostic(`exit 0 ${took} ms after SIGTERM; new connection ${outcome}`);
  assert.ok(took < 5000 + 1000, `exited within the drain timeout: ${took} ms`);
  assert.equal(rx.succeeded.length, N, 'the receiver answered every in-flight request before hookd exited');

  // After a restart: recorded as succeeded at the first attempt, not sent again.
  await server.start();
  const list = await listDeliveries(site, wh.id);
  assert.equal(list.length, N);
  for (const d of list) {
    assert.equal(d.state, 'succeeded', `delivery ${d.id} after drain: ${JSON.stringify(d)}`);
    assert.equal(d.attemptCount, 1, `delivery ${d.id} attemptCount: ${JSON.stringify(d)}`);
    const full = await getDelivery(site, d.id);
    assert.equal(full.attempts.length, 1);
    assert.equal(full.attempts[0].status, 200);
    assert.equal(full.attempts[0].responseSnippet, 'slow ok');
  }
  await sleep(1500);
  assert.equal(rx.requests.length, N, 'nothing delivered twice after the restart');
});

test('SIGTERM with a receiver slower than the drain timeout: exits 0 at the deadline; the delivery is sent again after restart', T, async (t) => {
  const server = await startServer({ retrySchedule: '0s,1s,1s', extraArgs: ['--drain-timeout', '2s'] });
  cleanup.push(() => server.dispose());
  const rx = await startReceiver({ hang: true }); // never answers (no timer keeps node alive)
  cleanup.push(() => rx.close());
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: rx.url(), timeoutMs: 30000 });
  const { ids } = await publish(site, { event: 'UPDATE', entity: 'Room', entityId: 'drain-slow' });
  await waitFor(() => rx.requests.length >= 1, 5000, { message: 'request in flight' });

  const t0 = Date.now();
  assert.ok(server.signal('SIGTERM'));
  const exit = await server.waitExit(8000);
  const took = Date.now() - t0;
  assert.ok(exit, `hookd still running ${took} ms after SIGTERM with --drain-timeout 2s`);
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, `exit status; log:\n${server.logTail(20)}`);
  t.diagnostic(`exit ${exit.code} ${took} ms after SIGTERM with --drain-timeout 2s`);
  assert.ok(took >= 1500, `waited for the in-flight request before giving up (${took} ms)`);
  assert.ok(took < 2000 + 2500, `exited at the drain deadline (${took} ms)`);

  rx.program({ status: 200 });
  await server.start();
  let last;
  await waitFor(async () => {
    last = await listDeliveries(site, wh.id);
    return last.length === 1 && last[0].state === 'succeeded';
  }, 10000, { message: 'the given-back delivery succeeded after restart', describe: () => JSON.stringify(last) });
  assert.equal(last[0].eventId, ids[0]);
  assert.ok(rx.succeeded.length >= 1);
});
