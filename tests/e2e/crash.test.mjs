// Crash safety under load: hookd is killed with SIGKILL at random moments (at
// least 5 times) while a publisher submits thousands of events and the
// dispatcher delivers them; it is restarted on the same database each time.
// Every event acknowledged with 202 must reach the receiver at least once.
// The duplicate rate is reported (at-least-once allows duplicates).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  createWebhook, listDeliveries, setupSite, sleep, startReceiver, startServer, waitFor,
} from './support.mjs';

const TOTAL_EVENTS = 3000;
const KILLS = 6;
const ENTITIES = ['Agreement', 'Room', 'Desk', 'Reservation'];
const TYPES = ['CREATE', 'UPDATE', 'DELETE', 'ARCHIVE'];
const rnd = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

test('SIGKILL at random moments during ingest and delivery: every accepted event arrives', { timeout: 150000 }, async (t) => {
  const server = await startServer({ retrySchedule: '0s,1s,2s,5s,10s' });
  cleanup.push(() => server.dispose());

  // Receiver: answers 200 after a small random delay (so kills also land
  // while requests are in flight) and remembers each request's entityId.
  // Only requests it actually answered (rec.status set; not aborted by a
  // kill) count as arrivals.
  const rx = await startReceiver(async (rec) => {
    try { rec.entityId = JSON.parse(rec.text).entityId; } catch { rec.entityId = undefined; }
    return { status: 200, delayMs: rnd(0, 25) };
  });
  const arrivalCounts = () => {
    const m = new Map();
    for (const r of rx.succeeded) if (r.entityId !== undefined) m.set(r.entityId, (m.get(r.entityId) ?? 0) + 1);
    return m;
  };
  cleanup.push(() => rx.close());

  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: rx.url(), maxInFlight: 16 });

  const accepted = new Map(); // eventId -> entityId (only 202 answers)
  let submitted = 0;
  let failedRequests = 0;
  let non202 = 0;
  let publishing = true;

  const publisher = (async () => {
    // Bounded: every iteration either submits a batch or backs off; the
    // publisher stops once TOTAL_EVENTS have been submitted.
    for (let iter = 0; iter < 100000 && submitted < TOTAL_EVENTS; iter++) {
      const size = Math.min(rnd(1, 50), TOTAL_EVENTS - submitted);
      const batch = Array.from({ length: size }, (_, i) => ({
        event: TYPES[(submitted + i) % 4],
        entity: ENTITIES[(submitted + i) % ENTITIES.length],
        entityId: `crash-${submitted + i}`,
      }));
      submitted += size;
      try {
        const r = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { events: batch }, { timeoutMs: 10000 });
        if (r.status === 202) {
          assert.equal(r.json.ids.length, size, `202 carries one id per event: ${r.text.slice(0, 300)}`);
          r.json.ids.forEach((id, i) => accepted.set(id, batch[i].entityId));
        } else {
          non202 += 1;
        }
      } catch {
        failedRequests += 1; // hookd died mid-request (or is restarting): not acknowledged
        await sleep(20);
      }
      await sleep(rnd(20, 80));
    }
    publishing = false;
  })();

  // Killer: wait a random moment after the server is up, then SIGKILL it and
  // restart it on the same database at once. At least KILLS times, and on
  // until the publisher is done (at most 30).
  const killLog = [];
  for (let k = 0; k < 30 && (k < KILLS || publishing); k++) {
    const wait = rnd(200, 1000);
    await sleep(wait);
    const before = { accepted: accepted.size, received: rx.succeeded.length, publishing };
    const exit = await server.kill9();
    assert.equal(exit?.signal, 'SIGKILL', `kill ${k + 1}: hookd was killed by SIGKILL (${JSON.stringify(exit)})`);
    killLog.push({ afterMs: wait, ...before });
    await server.start();
  }
  await publisher;
  assert.ok(killLog.length >= KILLS, `killed ${killLog.length} times`);

  // Every accepted event id arrives at least once (bounded wait).
  const wanted = [...accepted.values()];
  let missing = [];
  let arrivals = new Map();
  await waitFor(() => {
    arrivals = arrivalCounts();
    missing = wanted.filter((e) => !arrivals.has(e));
    return missing.length === 0;
  }, 40000, {
    interval: 250,
    message: `all ${wanted.length} accepted events at the receiver`,
    describe: () => `missing=${missing.length} e.g. ${missing.slice(0, 10).join(',')}; receiver requests=${rx.requests.length}; log:\n${server.logTail(15)}`,
  });

  // The store agrees: exactly one delivery per accepted event, none failed.
  const deliveries = await listDeliveries(site, wh.id);
  const perEvent = new Map();
  const states = {};
  for (const d of deliveries) {
    perEvent.set(d.eventId, (perEvent.get(d.eventId) ?? 0) + 1);
    states[d.state] = (states[d.state] ?? 0) + 1;
  }
  const noRow = [...accepted.keys()].filter((id) => !perEvent.has(id));
  const dupRows = [...perEvent.entries()].filter(([, n]) => n > 1);
  assert.deepEqual(noRow.slice(0, 10), [], `${noRow.length} accepted events have no delivery row`);
  assert.deepEqual(dupRows.slice(0, 10), [], `${dupRows.length} events have more than one delivery row`);
  assert.equal(states.failed ?? 0, 0, `no delivery failed (receiver always answers 200): ${JSON.stringify(states)}`);

  const answered = [...arrivals.values()].reduce((a, b) => a + b, 0);
  const acceptedArrivals = wanted.reduce((a, e) => a + (arrivals.get(e) ?? 0), 0);
  const dupRate = (acceptedArrivals - wanted.length) / wanted.length;
  const summary = `crash test: ${killLog.length} SIGKILLs (${killLog.filter((k) => k.publishing).length} while publishing), ${submitted} events submitted, ${accepted.size} accepted (202), `
    + `${failedRequests} publish requests failed by the kills, ${non202} non-202 answers; `
    + `receiver: ${answered} 2xx answers for ${arrivals.size} distinct ids; `
    + `duplicates among accepted: ${acceptedArrivals - wanted.length} (${(dupRate * 100).toFixed(2)} %); delivery states ${JSON.stringify(states)}`;
  t.diagnostic(summary);
  t.diagnostic(`kills: ${JSON.stringify(killLog)}`);
  console.log(summary);
  assert.ok(accepted.size >= TOTAL_EVENTS / 2, `most events were accepted despite the kills (${accepted.size})`);
});
