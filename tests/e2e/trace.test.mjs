// W3C Trace Context (issue 15 point 6, docs/receivers.md "Tracing"): an ingest request's
// `traceparent` (or a new trace) is stored with each event; every delivery attempt sends
// the event's trace-id with a parent-id (span id) of its own and the flags copied, plus
// the request's `tracestate`; the delivery's API object shows the stored `traceparent`.
// Server runs with --retry-schedule 0s,1s,1s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createWebhook, getDelivery, legacySignature, listDeliveries, publish, setupSite, show, useServer, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
const { server, receiver } = useServer({ retrySchedule: '0s,1s,1s' });

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const HEADER = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function parse(header) {
  const m = HEADER.exec(header ?? '');
  assert.ok(m, `a version-00 traceparent: ${header}`);
  assert.notEqual(m[1], '0'.repeat(32));
  assert.notEqual(m[2], '0'.repeat(16));
  return { traceId: m[1], spanId: m[2], flags: m[3] };
}

const bodyOf = (r) => JSON.parse(r.text);

test('a traceparent is continued: same trace-id on every attempt, a new span id per attempt, flags and tracestate kept', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ sequence: [500], status: 200 });  // fails once
  const wh = await createWebhook(site, { payloadUrl: rx.url('/traced') });
  const tracestate = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';
  const { ids } = await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 },
    { headers: { traceparent: TRACEPARENT, tracestate } });
  await waitFor(() => rx.requests.length >= 2, 10000, { message: 'two attempts' });
  const spans = rx.requests.map((r) => {
    const tp = parse(r.headers.traceparent);
    assert.equal(tp.traceId, TRACE_ID, 'the publisher\'s trace');
    assert.equal(tp.flags, '01', 'flags copied');
    assert.equal(r.headers.tracestate, tracestate);
    // The SPEC.md §2 request is unchanged.
    assert.equal(r.headers['x-ioffice-signature'], legacySignature('mySecret', 'CREATE', 'Agreement', '25'));
    assert.deepEqual(bodyOf(r), { event: 'CREATE', entity: 'Agreement', entityId: 25 });
    return tp.spanId;
  });
  assert.equal(new Set([...spans, PARENT_ID]).size, 3, `a span of its own per attempt: ${spans}`);

  const d = await waitFor(async () => {
    const list = await listDeliveries(site, wh.id);
    return list.length === 1 && list[0].state === 'succeeded' ? list[0] : null;
  }, 10000, { message: 'delivery succeeded' });
  assert.equal(d.eventId, ids[0]);
  assert.equal(d.traceparent, TRACEPARENT, 'the list shows the event\'s trace context');
  assert.equal(d.tracestate, tracestate);
  const full = await getDelivery(site, d.id);
  assert.equal(full.traceparent, TRACEPARENT);
  assert.equal(full.attempts.length, 2);
});

test('one trace for every event of a request, to every webhook', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 200 });
  await createWebhook(site, { payloadUrl: rx.url('/a') });
  await createWebhook(site, { payloadUrl: rx.url('/b') });
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
  await publish(site, [{ event: 'CREATE', entity: 'Room', entityId: 1 }, { event: 'UPDATE', entity: 'Room', entityId: 2 }],
    { headers: { traceparent } });
  await waitFor(() => rx.requests.length >= 4, 10000, { message: 'four deliveries' });
  const tps = rx.requests.map((r) => parse(r.headers.traceparent));
  for (const tp of tps) {
    assert.equal(tp.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(tp.flags, '00', 'not sampled stays not sampled');
  }
  assert.equal(new Set(tps.map((t) => t.spanId)).size, 4, 'a span per attempt');
  for (const r of rx.requests) assert.equal(r.headers.tracestate, undefined, 'no tracestate when none came');
});

test('an invalid traceparent is ignored and a new trace started (its tracestate dropped)', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 200 });
  const wh = await createWebhook(site, { payloadUrl: rx.url('/invalid') });
  const invalid = [
    `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`,      // upper case
    `00-${'0'.repeat(32)}-${PARENT_ID}-01`,              // all-zero trace-id
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`,               // all-zero parent-id
    `ff-${TRACE_ID}-${PARENT_ID}-01`,                    // version ff
    `${TRACEPARENT}-00`,                                 // version 00 is exactly 55 characters
    `00-${TRACE_ID}-${PARENT_ID}`,                       // too short
    'garbage',
  ];
  for (const [i, traceparent] of invalid.entries()) {
    await publish(site, { event: 'CREATE', entity: 'Room', entityId: `bad-${i}` },
      { headers: { traceparent, tracestate: 'rojo=1' } });
  }
  await waitFor(() => rx.requests.length >= invalid.length, 10000, { message: 'every event delivered' });
  const list = await listDeliveries(site, wh.id);
  const traces = new Set();
  for (const r of rx.requests) {
    const id = bodyOf(r).entityId;
    const tp = parse(r.headers.traceparent);
    assert.notEqual(tp.traceId, TRACE_ID, `${id}: a new trace`);
    assert.equal(tp.flags, '01', `${id}: a new trace is sampled`);
    assert.equal(r.headers.tracestate, undefined, `${id}: tracestate only beside a valid traceparent`);
    const d = list.find((x) => x.entityId === id);
    assert.ok(d, `${id}: listed`);
    assert.equal(parse(d.traceparent).traceId, tp.traceId, `${id}: the API shows the new trace`);
    assert.notEqual(parse(d.traceparent).spanId, tp.spanId, `${id}: the attempt is a child span`);
    assert.equal(d.tracestate, null);
    traces.add(tp.traceId);
  }
  assert.equal(traces.size, invalid.length, 'a new trace per request');
});

test('no traceparent: a new trace per request', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 200 });
  const wh = await createWebhook(site, { payloadUrl: rx.url('/none') });
  await publish(site, { event: 'CREATE', entity: 'Room', entityId: 'n-1' });
  await publish(site, { event: 'CREATE', entity: 'Room', entityId: 'n-2' });
  await waitFor(() => rx.requests.length >= 2, 10000, { message: 'two deliveries' });
  const a = parse(rx.requests[0].headers.traceparent);
  const b = parse(rx.requests[1].headers.traceparent);
  assert.notEqual(a.traceId, b.traceId);
  const list = await listDeliveries(site, wh.id);
  assert.equal(list.length, 2);
  for (const d of list) assert.match(d.traceparent ?? '', HEADER, JSON.stringify(d));
});

test('a test message continues the caller\'s trace and answers with it', T, async () => {
  const site = await setupSite(server);
  const rx = await receiver({ status: 200 });
  const wh = await createWebhook(site, { payloadUrl: rx.url('/test') });
  const t = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${wh.id}/test`, {},
    { headers: { traceparent: TRACEPARENT } });
  assert.equal(t.status, 200, show(t));
  assert.equal(t.json.traceparent, TRACEPARENT);
  const tp = parse(rx.requests[0].headers.traceparent);
  assert.equal(tp.traceId, TRACE_ID);
  assert.notEqual(tp.spanId, PARENT_ID);
  const u = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${wh.id}/test`, {});
  assert.equal(u.status, 200, show(u));
  assert.notEqual(parse(u.json.traceparent).traceId, TRACE_ID, 'without one: a new trace');
  assert.equal(parse(rx.requests[1].headers.traceparent).traceId, parse(u.json.traceparent).traceId);
});
