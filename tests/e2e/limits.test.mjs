// Limits on untrusted input (SPEC §7, issue 4): per-token rate limit (429 + Retry-After),
// oversized headers (431), slow clients cut off, connection cap — each answered without
// changing anything.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { rawRequest, setupSite, sleep, startServer } from './support.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

test('a token over its request rate gets 429 with Retry-After; other tokens are unaffected', { timeout: 30000 }, async () => {
  const server = await startServer({ extraArgs: ['--api-rate-limit', '5'] });
  cleanup.push(() => server.dispose());
  const site = await setupSite(server);
  const statuses = [];
  let limited = null;
  for (let i = 0; i < 40; i++) {
    const r = await site.admin.get(`/v1/sites/${site.siteId}/webhooks`);
    statuses.push(r.status);
    if (r.status === 429 && !limited) limited = r;
  }
  assert.ok(limited, `no 429 in ${statuses.join(',')}`);
  assert.match(limited.headers['content-type'], /application\/problem\+json/);
  assert.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After header');
  // The publisher's bucket is its own.
  const other = await site.publisher.post(`/v1/sites/${site.siteId}/events`, { event: 'CREATE', entity: 'Room', entityId: 1 });
  assert.equal(other.status, 202);
  await sleep(1200);
  assert.equal((await site.admin.get(`/v1/sites/${site.siteId}/webhooks`)).status, 200, 'the bucket refills');
});

test('oversized headers get 431; a client that is too slow is cut off; the connection cap holds', { timeout: 30000 }, async () => {
  const server = await startServer({ extraArgs: ['--client-timeout', '1s', '--max-connections', '5'] });
  cleanup.push(() => server.dispose());
  const big = await rawRequest(server.baseUrl, 'GET', '/healthz', { headers: { 'x-filler': 'a'.repeat(64 * 1024) } });
  assert.equal(big.status, 431);

  // Slow client: sends half a request line and stops.
  const slow = net.connect(server.port, '127.0.0.1');
  await new Promise((r) => slow.once('connect', r));
  slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const closedAfter = await new Promise((resolve) => {
    const t0 = Date.now();
    slow.once('close', () => resolve(Date.now() - t0));
    setTimeout(() => resolve(null), 5000);
  });
  assert.ok(closedAfter !== null && closedAfter < 3000, `slow client closed after ${closedAfter} ms`);

  // Five idle connections fill the cap; a sixth is closed at once.
  const idle = [];
  for (let i = 0; i < 5; i++) {
    const s = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    idle.push(s);
  }
  await sleep(100);
  const extra = net.connect(server.port, '127.0.0.1');
  const extraClosed = await new Promise((resolve) => {
    extra.once('close', () => resolve(true));
    extra.once('error', () => resolve(true));
    setTimeout(() => resolve(false), 2000);
  });
  assert.ok(extraClosed, 'a connection over the cap is closed');
  for (const s of idle) s.destroy();
  // Once they are gone the server answers again.
  await sleep(200);
  assert.equal((await rawRequest(server.baseUrl, 'GET', '/healthz')).status, 200);
});
