// Back-pressure: when the store cannot commit — the database is locked by
// another process past --sqlite-busy-timeout, or the disk is full — ingest
// answers 503 with Retry-After (problem+json) and never 202, nothing of the
// refused requests is written, and ingest recovers once the cause is gone.
// Real conditions, no mocks: a sqlite3 process holding the write lock, and a
// real (tiny) tmpfs filled to the last byte.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  HookdServer, createWebhook, listDeliveries, makeTempDir, publish, removeTempDir, setupSite, show, sleep,
  startReceiver, waitFor,
} from './support.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
});

function assertBackPressure(res, what) {
  assert.equal(res.status, 503, `${what}: ${show(res)}`);
  const ra = res.headers['retry-after'];
  assert.ok(ra !== undefined && /^\d+$/.test(ra) && Number(ra) >= 1, `${what}: Retry-After header (got ${JSON.stringify(ra)})`);
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: content type`);
  assert.equal(res.json?.status, 503, `${what}: problem body ${res.text}`);
}

/** A sqlite3 CLI process holding the database's write lock (open transaction). */
async function holdWriteLock(dbPath) {
  const child = spawn('sqlite3', ['-bail', dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', (e) => { err += String(e); });
  child.stdin.write(".timeout 5000\nBEGIN IMMEDIATE;\nINSERT INTO meta(key,value) VALUES('lock','x');\nSELECT 'lock-held';\n");
  await waitFor(() => out.includes('lock-held') || err.length > 0, 10000, { interval: 20, message: 'sqlite3 holds the write lock', describe: () => `stdout=${out} stderr=${err}` });
  assert.equal(err, '', `sqlite3 could not take the lock: ${err}`);
  return {
    async release() {
      child.stdin.end(); // EOF: sqlite3 exits, the open transaction is rolled back
      let timer;
      const res = await Promise.race([exited, new Promise((r) => { timer = setTimeout(() => r(null), 5000); })]);
      clearTimeout(timer);
      if (!res) { child.kill('SIGKILL'); await exited; }
    },
    kill() { try { child.kill('SIGKILL'); } catch { /* gone */ } },
  };
}

const events = (prefix, n) => Array.from({ length: n }, (_, i) => ({ event: 'CREATE', entity: 'Agreement', entityId: `${prefix}-${i}` }));

test('database locked by another process: 503 + Retry-After, never 202; nothing written; 202 again after release', { timeout: 40000 }, async (t) => {
  const server = new HookdServer({ extraArgs: ['--sqlite-busy-timeout', '300ms'] });
  cleanup.push(() => server.dispose());
  await server.start();
  const rx = await startReceiver({ status: 200 });
  cleanup.push(() => rx.close());
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: rx.url() });
  await publish(site, events('before', 1));
  await waitFor(() => rx.succeeded.length >= 1, 5000, { message: 'delivery before the lock' });

  const lock = await holdWriteLock(server.dbPath);
  cleanup.push(() => lock.kill());
  const urlPath = `/v1/sites/${site.siteId}/events`;
  const refused = [];
  try {
    for (let i = 0; i < 3; i++) {
      const body = i === 2 ? { events: events(`locked-batch-${i}`, 20) } : events(`locked-${i}`, 1)[0];
      const t0 = Date.now();
      const r = await site.publisher.post(urlPath, body, { timeoutMs: 10000 });
      const took = Date.now() - t0;
      assertBackPressure(r, `POST events #${i} while the database is locked`);
      t.diagnostic(`locked POST #${i}: 503 after ${took} ms, Retry-After ${r.headers['retry-after']}`);
      assert.ok(took < 5000, `answered within a few seconds of the 300 ms busy timeout (${took} ms)`);
      refused.push(...(body.events ?? [body]).map((e) => e.entityId));
    }
    // A refused request with an Idempotency-Key must not be remembered.
    const ri = await site.publisher.post(urlPath, events('idem', 1)[0], { headers: { 'idempotency-key': 'bp-key-1' }, timeoutMs: 10000 });
    assertBackPressure(ri, 'POST with Idempotency-Key while locked');
    assert.ok(server.exitInfo === null, 'hookd is still running');
  } finally {
    await lock.release();
  }

  // Released: 202 again (allow a moment for the lock holder to be gone).
  let r;
  await waitFor(async () => {
    r = await site.publisher.post(urlPath, events('after', 1)[0]);
    return r.status === 202;
  }, 5000, { interval: 200, message: '202 after the lock is released', describe: () => show(r) });
  // The retried idempotent request is accepted now (the 503 was not stored).
  const ri2 = await site.publisher.post(urlPath, events('idem', 1)[0], { headers: { 'idempotency-key': 'bp-key-1' } });
  assert.equal(ri2.status, 202, `retry of the refused idempotent request: ${show(ri2)}`);
  await waitFor(() => ['after-0', 'idem-0'].every((id) => rx.succeeded.some((q) => JSON.parse(q.text).entityId === id)), 10000,
    { message: 'events accepted after the release delivered' });
  await sleep(500);
  const seen = new Set(rx.requests.map((q) => JSON.parse(q.text).entityId));
  assert.deepEqual(refused.filter((id) => seen.has(id)), [], 'events refused with 503 were not delivered');
  const ds = await listDeliveries(site, wh.id);
  const stored = new Set(ds.map((d) => d.entityId));
  assert.deepEqual(refused.filter((id) => stored.has(id)), [], 'events refused with 503 do not exist');
  assert.equal(ds.filter((d) => d.entityId === 'idem-0').length, 1, 'the idempotent request created one delivery');
  assert.equal(ds.length, 3, `before-0, after-0, idem-0: ${JSON.stringify(ds.map((d) => d.entityId))}`);
});

test('disk full (real tmpfs): 503 + Retry-After, not 202; 202 again once space is freed', { timeout: 60000 }, async (t) => {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    t.skip('needs root to mount a tmpfs (not running as root)');
    return;
  }
  const base = makeTempDir('hookd-e2e-full');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8', timeout: 10000 });
  if (m.status !== 0) {
    removeTempDir(base);
    t.skip(`cannot mount a tmpfs here (mount exited ${m.status}: ${(m.stderr || m.error?.message || '').trim()})`);
    return;
  }
  const server = new HookdServer({ dbPath: path.join(mnt, 'hookd.db') });
  let rx;
  const filler = path.join(mnt, 'filler');
  try {
    await server.start();
    rx = await startReceiver({ status: 200 });
    const site = await setupSite(server);
    const wh = await createWebhook(site, { payloadUrl: rx.url() });
    const accepted = new Set(); // entityIds acknowledged with 202
    for (const e of events('pre', 3)) { await publish(site, e); accepted.add(e.entityId); }
    await waitFor(() => rx.succeeded.length >= 3, 5000, { message: 'deliveries before the disk is full' });

    // Fill the file system to the last byte.
    const fd = fs.openSync(filler, 'w');
    let filled = 0;
    try {
      for (const chunk of [65536, 4096, 512, 1]) {
        const buf = Buffer.alloc(chunk);
        for (let i = 0; i < 10000; i++) {
          try {
            const n = fs.writeSync(fd, buf);
            filled += n;
            if (n < chunk) break;
          } catch (e) {
            if (e.code === 'ENOSPC') break;
            throw e;
          }
        }
      }
    } finally { fs.closeSync(fd); }
    t.diagnostic(`filled the 2 MiB tmpfs with ${filled} bytes`);
    assert.throws(() => fs.writeFileSync(path.join(mnt, 'probe'), Buffer.alloc(4096)), /ENOSPC/, 'the file system is full');

    // Big batches: SQLite may still reuse space it already owns (WAL), so a
    // first batch can legitimately be committed; it must then be delivered.
    const urlPath = `/v1/sites/${site.siteId}/events`;
    const refused = [];
    let first503 = null;
    let before503 = 0;
    for (let b = 0; b < 10 && !first503; b++) {
      const batch = events(`full-${b}`, 1000);
      const r = await site.publisher.post(urlPath, { events: batch }, { timeoutMs: 20000 });
      if (r.status === 202) { before503 += 1; batch.forEach((e) => accepted.add(e.entityId)); continue; }
      assertBackPressure(r, `batch ${b} on a full disk`);
      first503 = r;
      refused.push(...batch.map((e) => e.entityId));
    }
    t.diagnostic(`${before503} batch(es) of 1000 still fitted in space SQLite already owned before the first 503`);
    assert.ok(first503, 'a full disk produced 503 within 10 batches of 1000 events');
    // Still full: a small request is refused too, and hookd is alive.
    const small = events('full-small', 5);
    const rs = await site.publisher.post(urlPath, { events: small }, { timeoutMs: 20000 });
    if (rs.status === 202) small.forEach((e) => accepted.add(e.entityId));
    else { assertBackPressure(rs, 'small batch on a full disk'); refused.push(...small.map((e) => e.entityId)); }
    assert.equal(server.exitInfo, null, `hookd survived the full disk; log:\n${server.logTail(20)}`);

    // Free the space: 202 again.
    fs.rmSync(filler);
    let r;
    await waitFor(async () => {
      r = await site.publisher.post(urlPath, events('freed', 1)[0], { timeoutMs: 20000 });
      return r.status === 202;
    }, 10000, { interval: 250, message: '202 after space is freed', describe: () => show(r) });
    accepted.add('freed-0');

    // Everything acknowledged is delivered; nothing refused exists.
    let seen = new Set();
    await waitFor(() => {
      seen = new Set(rx.succeeded.map((q) => JSON.parse(q.text).entityId));
      return [...accepted].every((id) => seen.has(id));
    }, 30000, { interval: 250, message: `all ${accepted.size} acknowledged events delivered`, describe: () => `${[...accepted].filter((id) => !seen.has(id)).length} missing` });
    const ds = await listDeliveries(site, wh.id);
    const stored = new Set(ds.map((d) => d.entityId));
    assert.deepEqual(refused.filter((id) => stored.has(id)).slice(0, 5), [], 'events refused with 503 do not exist');
    assert.deepEqual(refused.filter((id) => seen.has(id)).slice(0, 5), [], 'events refused with 503 were not delivered');
  } finally {
    await server.kill9();
    if (rx) await rx.close();
    const u = spawnSync('umount', [mnt], { encoding: 'utf8', timeout: 10000 });
    if (u.status !== 0) spawnSync('umount', ['-l', mnt], { timeout: 10000 });
    if (server.ownsDir) removeTempDir(server.dir);
    removeTempDir(base);
  }
});
