// Per-webhook rate limit (token bucket), receiver back-off (429 with
// Retry-After) — each slows only its own webhook — and retry punctuality.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createWebhook, listDeliveries, publish, setupSite, sleep, useServer, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
const { server, receiver } = useServer({ retrySchedule: '0s,1s,1s,1s' });

test('rateLimitPerSecond 5: 20 deliveries take about 3 s, at most ~6 per second after the first burst', T, async (t) => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 200 });
  const other = await receiver({ status: 200 });
  const wh = await createWebhook(site, { payloadUrl: rx.url(), rateLimitPerSecond: 5 });
  assert.equal(wh.rateLimitPerSecond, 5);
  await createWebhook(site, { payloadUrl: other.url() }); // no limit, same events
  const N = 20;
  const t0 = Date.now();
  await publish(site, Array.from({ length: N }, (_, i) => ({ event: 'CREATE', entity: 'Agreement', entityId: `rl-${i}` })));
  // The unlimited webhook is not slowed down by its neighbour's limit.
  await waitFor(() => other.succeeded.length >= N, 3000, { interval: 50, message: 'unlimited webhook got all 20 at once', describe: () => `${other.succeeded.length}` });
  await waitFor(() => rx.succeeded.length >= N, 15000, { interval: 50, message: '20 rate-limited deliveries', describe: () => `${rx.succeeded.length}` });
  const at = rx.requests.map((q) => q.at).sort((a, b) => a - b);
  const span = at[N - 1] - at[0];
  t.diagnostic(`rate-limited arrivals (ms after first): ${at.map((x) => x - at[0]).join(' ')}`);
  assert.equal(rx.requests.length, N, 'no extra requests');
  // Token bucket at 5/s with a burst of at most 5: the other 15 need >= 3 s.
  assert.ok(span >= 2700, `20 deliveries at 5/s took only ${span} ms (expected >= ~3000)`);
  assert.ok(Date.now() - t0 < 10000, 'but not absurdly slower than 5/s');
  // Sliding 1 s windows starting at each request after the first burst (the
  // first 5 may go out at once).
  let worst = 0;
  for (let i = 5; i < N; i++) {
    const inWindow = at.filter((x) => x >= at[i] && x < at[i] + 1000).length;
    worst = Math.max(worst, inWindow);
  }
  assert.ok(worst <= 6, `at most ~6 requests in any 1 s window after the first burst, saw ${worst}`);
  // The whole run: no 1 s window holds more than burst + rate (+1 slack).
  let worstAll = 0;
  for (let i = 0; i < N; i++) worstAll = Math.max(worstAll, at.filter((x) => x >= at[i] && x < at[i] + 1000).length);
  assert.ok(worstAll <= 11, `at most burst + rate in any 1 s window, saw ${worstAll}`);
  // The last answers may still be being recorded: wait for the store.
  let ok = [];
  await waitFor(async () => {
    ok = await listDeliveries(site, wh.id, { state: 'succeeded' });
    return ok.length === N;
  }, 5000, { message: `${N} succeeded deliveries recorded`, describe: () => `${ok.length}` });
  for (const d of ok) assert.equal(d.attemptCount, 1, 'rate limiting is not a failed attempt');
});

test('429 with Retry-After: 2 pauses only that webhook for >= 2 s; another webhook keeps receiving', T, async (t) => {
  const site = await setupSite(server);
  // A answers its first request 429 Retry-After: 2, then 200.
  const a = await receiver((rec) => (a.requests.length === 1
    ? { status: 429, headers: { 'retry-after': '2' }, body: 'slow down' }
    : { status: 200 }));
  const b = await receiver({ status: 200 });
  const whA = await createWebhook(site, { payloadUrl: a.url() });
  await createWebhook(site, { payloadUrl: b.url() });

  await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 'ra-0' });
  await waitFor(() => a.requests.length >= 1 && a.requests[0].answeredAt, 5000, { interval: 20, message: 'first request at A answered 429' });
  const pausedAt = a.requests[0].answeredAt;

  // During the pause, more events for both webhooks: B gets each promptly.
  const lags = [];
  for (let i = 1; i <= 4; i++) {
    const before = b.requests.length;
    const p0 = Date.now();
    await publish(site, { event: 'UPDATE', entity: 'Agreement', entityId: `ra-${i}` });
    await waitFor(() => b.requests.length > before, 1500, { interval: 10, message: `B got event ${i} during A's pause` });
    lags.push(Date.now() - p0);
    await sleep(250);
  }
  t.diagnostic(`B latency during A's pause (ms): ${lags.join(' ')}; publishing ended ${Date.now() - pausedAt} ms after the 429`);
  assert.ok(Date.now() - pausedAt < 2000, 'the B checks ran inside the 2 s pause');
  assert.equal(b.requests.length, 5);

  await waitFor(() => a.succeeded.length >= 5, 10000, { interval: 20, message: 'A got all 5 after its pause', describe: () => `${a.requests.length} requests` });
  const next = a.requests[1];
  const gap = next.at - pausedAt;
  t.diagnostic(`A: next request ${gap} ms after the 429 (retry schedule would say 1000 ms)`);
  assert.ok(gap >= 1950, `A's next attempt came ${gap} ms after 429 Retry-After: 2`);
  // "pause only that webhook": none of A's other deliveries went out during the pause either.
  const early = a.requests.slice(1).filter((q) => q.at - pausedAt < 1950);
  assert.deepEqual(early.map((q) => `${q.text} at +${q.at - pausedAt} ms`), [], 'no request reached A during its Retry-After pause');
  let ds = [];
  await waitFor(async () => {
    ds = await listDeliveries(site, whA.id);
    return ds.length === 5 && ds.every((d) => d.state === 'succeeded');
  }, 5000, { message: 'A\'s 5 deliveries recorded as succeeded', describe: () => JSON.stringify(ds.map((d) => [d.entityId, d.state])) });
  const first = ds.find((d) => d.entityId === 'ra-0');
  assert.equal(first.attemptCount, 2, 'the 429 was an attempt');
});

test('retries go out when due (schedule 1 s ±10 %), not at the next idle poll', T, async (t) => {
  const site = await setupSite(server);
  // The first attempt of every delivery fails; the second succeeds.
  const seen = new Set();
  const rx = await receiver((rec) => {
    const id = rec.headers['webhook-id'];
    if (seen.has(id)) return { status: 200 };
    seen.add(id);
    return { status: 500 };
  });
  await createWebhook(site, { payloadUrl: rx.url() });
  const K = 6;
  for (let i = 0; i < K; i++) {
    await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: `due-${i}` });
    await sleep(150);
  }
  await waitFor(() => rx.succeeded.length >= K, 10000, { interval: 20, message: `${K} retries succeeded`, describe: () => `${rx.succeeded.length}` });
  const gaps = [];
  for (const ok of rx.succeeded) {
    const first = rx.requests.find((q) => q.headers['webhook-id'] === ok.headers['webhook-id'] && q.status === 500);
    gaps.push(ok.at - first.answeredAt);
  }
  t.diagnostic(`retry gaps (ms; schedule 900..1100): ${gaps.join(' ')}`);
  for (const g of gaps) assert.ok(g >= 850, `retry ${g} ms after the failure, before the 1 s schedule`);
  assert.ok(Math.max(...gaps) <= 1350, `a retry due after 1 s ±10 % went out ${Math.max(...gaps)} ms after the failure (gaps: ${gaps.join(' ')})`);
});
