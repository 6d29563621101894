// Webhook health (issue 16, point 3): GET /v1/sites/{site}/webhooks/{id}/health and
// GET /v1/sites/{site}/health count real attempts to real loopback receivers as
// succeeded / retried / failed, give their latency, and say since when a webhook fails.
// Runs on SQLite and (HOOKD_E2E_STORE=postgres) on PostgreSQL.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  createWebhook, listDeliveries, publish, setupSite, show, useServer, waitFor,
} from './support.mjs';

const T = { timeout: 60000 };

describe('webhook health', () => {
  // Three attempts per delivery: immediately, then after 1 s twice.
  const { server, receiver } = useServer({ retrySchedule: '0s,1s,1s' });
  let site;
  let other;
  before(async () => {
    site = await setupSite(server);
    other = await setupSite(server);
  });

  const healthOf = async (id, window) => {
    const q = window ? `?window=${window}` : '';
    const r = await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${id}/health${q}`);
    assert.equal(r.status, 200, show(r));
    return r.json;
  };

  test('attempts are counted by what they did to their delivery, with their latency', T, async () => {
    // Receiver: entity 1 succeeds at once (after 300 ms), entity 2 fails once then succeeds,
    // entity 3 always fails (3 attempts: 2 retried, 1 failed).
    const seen = new Map();
    const rx = await receiver((rec) => {
      const id = JSON.parse(rec.text).entityId;
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      if (id === 1) return { status: 200, delayMs: 300 };
      if (id === 2) return { status: n === 1 ? 500 : 204 };
      return { status: 503 };
    });
    const wh = await createWebhook(site, { payloadUrl: rx.url('/h') });
    const idle = await createWebhook(site, { payloadUrl: rx.url('/idle'), sendEverything: false, entities: ['Desk'] });
    await publish(site, [1, 2, 3].map((entityId) => ({ event: 'CREATE', entity: 'Room', entityId })));
    await waitFor(async () => (await listDeliveries(site, wh.id)).every((d) => d.state !== 'pending'), 20000,
      { message: 'three deliveries final' });

    const day = await healthOf(wh.id);
    assert.equal(day.webhookId, wh.id);
    assert.equal(day.window, '24h');
    assert.equal(day.intervalSeconds, 3600);
    assert.equal(day.intervals.length, 24);
    const t = day.totals;
    assert.deepEqual([t.succeeded, t.retried, t.failed, t.attempts], [2, 3, 1, 6], JSON.stringify(t));
    assert.equal(t.successRatio, 2 / 6);
    // Six answered attempts: five fast ones and one of 300 ms.
    assert.ok(t.p50Ms !== null && t.p50Ms <= 100, `p50 ${t.p50Ms}`);
    assert.ok(t.p95Ms >= 250 && t.p95Ms <= 500, `p95 ${t.p95Ms}`);
    // All of it in the current hour (or, right at an hour's turn, the one before).
    const busy = day.intervals.filter((i) => i.attempts > 0);
    assert.ok(busy.length >= 1 && busy.length <= 2);
    assert.ok(busy.at(-1) === day.intervals.at(-1) || busy.at(-1) === day.intervals.at(-2));
    assert.equal(new Date(day.until) - new Date(day.from), 24 * 3600_000);
    assert.ok(new Date(day.intervals.at(-1).start) <= Date.now() && Date.now() < new Date(day.until));
    // The last attempt (entity 3's third) failed: the failure clock runs.
    assert.ok(day.failingSince, 'failingSince is set');
    assert.ok(Math.abs(new Date(day.failingSince) - Date.now()) < 60_000);

    const week = await healthOf(wh.id, '7d');
    assert.equal(week.intervals.length, 28);
    assert.equal(week.intervalSeconds, 21600);
    assert.deepEqual(week.totals, day.totals);

    // The list has every webhook of the site, in id order; a webhook without attempts has zeros.
    const list = await site.admin.get(`/v1/sites/${site.siteId}/health`);
    assert.equal(list.status, 200, show(list));
    const ids = list.json.data.map((h) => h.webhookId);
    assert.deepEqual(ids, [...ids].sort());
    assert.ok(ids.includes(wh.id) && ids.includes(idle.id));
    const quiet = list.json.data.find((h) => h.webhookId === idle.id);
    assert.equal(quiet.totals.attempts, 0);
    assert.equal(quiet.totals.successRatio, null);
    assert.equal(quiet.totals.p50Ms, null);
    assert.equal(quiet.failingSince, null);

    // A success stops the failure clock.
    rx.program({ status: 200 });
    await publish(site, { event: 'CREATE', entity: 'Room', entityId: 4 });
    await waitFor(async () => (await healthOf(wh.id)).failingSince === null, 10000, { message: 'failingSince cleared' });
    assert.equal((await healthOf(wh.id)).totals.succeeded, 3);
  });

  test('a test message counts too (its failure is final)', T, async () => {
    const rx = await receiver({ status: 500 });
    const wh = await createWebhook(site, { payloadUrl: rx.url('/t') });
    const r = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${wh.id}/test`);
    assert.equal(r.status, 200, show(r));
    const h = await waitFor(async () => {
      const x = await healthOf(wh.id);
      return x.totals.attempts === 1 ? x : null;
    }, 10000, { message: 'the test attempt counted' });
    assert.equal(h.totals.failed, 1);
  });

  test('admin of the site only; another site\'s webhook is 404; a bad window is 400', T, async () => {
    const rx = await receiver({ status: 200 });
    const mine = await createWebhook(site, { payloadUrl: rx.url('/m') });
    const theirs = await createWebhook(other, { payloadUrl: rx.url('/o') });
    const path = `/v1/sites/${site.siteId}/webhooks/${mine.id}/health`;
    assert.equal((await server.api(null).get(path)).status, 401);
    assert.equal((await site.publisher.get(path)).status, 403);
    assert.equal((await server.api().get(path)).status, 403, 'operator');
    assert.equal((await other.admin.get(path)).status, 403, 'admin of another site');
    assert.equal((await other.admin.get(`/v1/sites/${site.siteId}/health`)).status, 403);
    const cross = await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${theirs.id}/health`);
    assert.equal(cross.status, 404, show(cross));
    const list = await site.admin.get(`/v1/sites/${site.siteId}/health`);
    assert.ok(!list.json.data.some((h) => h.webhookId === theirs.id), 'no other site\'s webhook in the list');
    const bad = await site.admin.get(`${path}?window=30d`);
    assert.equal(bad.status, 400, show(bad));
  });
});
