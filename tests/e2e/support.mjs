// Shared helpers for hookd's end-to-end tests.
//
// Everything here talks to the REAL binary (build/hookd, or $HOOKD_BIN) over
// loopback HTTP, and to real HTTP receivers bound to 127.0.0.1:0. Nothing is
// mocked. Each test file starts its own server on its own temp dir.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const HOOKD_BIN = process.env.HOOKD_BIN
  ? path.resolve(process.env.HOOKD_BIN)
  : path.join(REPO_ROOT, 'build', 'hookd');

// Seed test vector: HMAC-SHA256("mySecret", "CREATE:Agreement:25").
export const SECRET = 'mySecret';
export const TEST_VECTOR = '6206491ddab1218e7d6a9c8b3fbaa43da7858ee678dc6cd53a4dcabf0216568e';
export const EVENT_TYPES = ['CREATE', 'UPDATE', 'DELETE', 'ARCHIVE'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function randomId(prefix = 's') {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

// ---------------------------------------------------------------- processes

const children = new Set();
function killAllChildren() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAllChildren);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAllChildren(); process.exit(130); });
}

export function makeTempDir(label = 'hookd-e2e') {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`));
}

export function removeTempDir(dir) {
  if (!dir || process.env.HOOKD_E2E_KEEP_TMP) return;
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Poll `predicate` (sync or async) until it returns a truthy value, which is
 * returned. Throws after `timeoutMs`; `describe()` (optional) adds context
 * to the timeout message (e.g. the last observed state).
 */
export async function waitFor(predicate, timeoutMs = 10000, { interval = 100, message = 'condition', describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      let extra = '';
      if (describe) {
        try { extra = ` — last state: ${await describe()}`; } catch (e) { extra = ` — (describe failed: ${e.message})`; }
      }
      if (lastErr) extra += ` — last error: ${lastErr.message}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${extra}`);
    }
    await sleep(interval);
  }
}

/** Run hookd synchronously (CLI subcommands). */
export function runHookd(args, { env = {}, timeoutMs = 10000, cwd } = {}) {
  const r = spawnSync(HOOKD_BIN, args, {
    env: { ...process.env, ...env },
    cwd: cwd ?? os.tmpdir(),
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

// ------------------------------------------------------------------- server

/**
 * Start `hookd serve` on a fresh port.
 * opts: dir (temp dir; created when omitted), dbPath (default <dir>/hookd.db),
 * allowPrivateNetwork (default true), retrySchedule (default '0s,1s,1s'),
 * extraArgs, env.
 * Returns a HookdServer: baseUrl, port, operatorToken, dir, dbPath, dbUrl,
 * api(token), stop(), kill9(), restart(), signal(sig), waitExit(ms).
 */
export async function startServer(opts = {}) {
  const srv = new HookdServer(opts);
  await srv.start();
  return srv;
}

/** True when the suite runs against PostgreSQL (HOOKD_E2E_STORE=postgres, HOOKD_TEST_PG_URL set). */
export function usePostgres() {
  return process.env.HOOKD_E2E_STORE === 'postgres' && !!process.env.HOOKD_TEST_PG_URL;
}

/** Creates an empty database on the test PostgreSQL server and returns its URL. */
export function createPgDatabase() {
  const admin = process.env.HOOKD_TEST_PG_URL;
  if (!admin) throw new Error('HOOKD_TEST_PG_URL is not set (scripts/test.sh starts a PostgreSQL cluster)');
  const name = `hookd_e2e_${crypto.randomBytes(6).toString('hex')}`;
  const r = spawnSync('psql', [admin, '-qc', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`createdb failed: ${r.stderr}`);
  return admin.replace(/\/[^/]*$/, `/${name}`);
}

export class HookdServer {
  constructor({ dir, dbPath, dbUrl, allowPrivateNetwork = true, retrySchedule = '0s,1s,1s', extraArgs = [], env = {}, operatorToken } = {}) {
    this.ownsDir = !dir;
    this.dir = dir ?? makeTempDir();
    // dbPath: put the database somewhere else than `dir` (logs stay in `dir`).
    this.dbPath = dbPath ?? path.join(this.dir, 'hookd.db');
    // With HOOKD_E2E_STORE=postgres every server gets its own fresh PostgreSQL database
    // (unless the test chose a SQLite file or a URL itself).
    this.dbUrl = dbUrl ?? (usePostgres() && !dbPath ? createPgDatabase() : `sqlite:${this.dbPath}`);
    this.allowPrivateNetwork = allowPrivateNetwork;
    this.retrySchedule = retrySchedule;
    this.extraArgs = extraArgs;
    this.env = env;
    this.operatorToken = operatorToken ?? `op_${crypto.randomBytes(24).toString('hex')}`;
    this.nodeId = `e2e-${crypto.randomBytes(4).toString('hex')}`;
    this.proc = null;
    this.port = null;
    this.generation = 0;
    this.exitInfo = null;
  }

  get baseUrl() { return `http://127.0.0.1:${this.port}`; }
  get logPath() { return path.join(this.dir, `hookd-${this.generation}.log`); }

  args() {
    const a = ['serve', '--listen', `127.0.0.1:${this.port}`, '--db', this.dbUrl];
    if (this.allowPrivateNetwork) a.push('--allow-private-network');
    if (this.retrySchedule) a.push('--retry-schedule', this.retrySchedule);
    // A stable node name across restarts, as a deployment has: a restarted node resumes
    // its own leases at once (on PostgreSQL; on SQLite every lease is resumed anyway).
    if (!this.extraArgs.includes('--node-id')) a.push('--node-id', this.nodeId);
    return a.concat(this.extraArgs);
  }

  logTail(n = 40) {
    try {
      const lines = fs.readFileSync(this.logPath, 'utf8').split('\n');
      return lines.slice(-n).join('\n');
    } catch { return '(no log)'; }
  }

  async start() {
    if (!fs.existsSync(HOOKD_BIN)) throw new Error(`hookd binary not found at ${HOOKD_BIN} (set HOOKD_BIN)`);
    this.generation += 1;
    this.port = await freePort();
    const fd = fs.openSync(this.logPath, 'a');
    const env = { ...process.env, HOOKD_OPERATOR_TOKEN: this.operatorToken, ...this.env };
    const proc = spawn(HOOKD_BIN, this.args(), { cwd: this.dir, env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.proc = proc;
    this.exitInfo = null;
    children.add(proc);
    proc.exitPromise = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        children.delete(proc);
        this.exitInfo = { code, signal };
        resolve({ code, signal });
      });
      proc.on('error', (err) => {
        children.delete(proc);
        this.exitInfo = { code: null, signal: null, error: err };
        resolve(this.exitInfo);
      });
    });
    const deadline = Date.now() + 10000;
    for (;;) {
      if (this.exitInfo) {
        throw new Error(`hookd exited during startup (${JSON.stringify(this.exitInfo)}); log:\n${this.logTail()}`);
      }
      try {
        const r = await rawRequest(this.baseUrl, 'GET', '/healthz', { timeoutMs: 1000 });
        if (r.status === 200) return this;
      } catch { /* not yet listening */ }
      if (Date.now() > deadline) {
        await this.kill9();
        throw new Error(`hookd did not answer GET /healthz 200 within 10 s; log:\n${this.logTail()}`);
      }
      await sleep(100);
    }
  }

  async #signalAndWait(signal, graceMs) {
    const p = this.proc;
    if (!p || this.exitInfo) return this.exitInfo;
    try { p.kill(signal); } catch { /* gone */ }
    let timer;
    const res = await Promise.race([p.exitPromise, new Promise((r) => { timer = setTimeout(() => r(null), graceMs); })]);
    clearTimeout(timer);
    if (res) return res;
    try { p.kill('SIGKILL'); } catch { /* gone */ }
    return p.exitPromise;
  }

  /** Send `sig` to the running process (no wait). Returns false when there is none. */
  signal(sig) {
    if (!this.proc || this.exitInfo) return false;
    try { return this.proc.kill(sig); } catch { return false; }
  }

  /** Wait up to `timeoutMs` for the process to exit: {code, signal}, or null if still running. */
  async waitExit(timeoutMs) {
    const p = this.proc;
    if (!p) return null;
    if (this.exitInfo) return this.exitInfo;
    let timer;
    const res = await Promise.race([p.exitPromise, new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); })]);
    clearTimeout(timer);
    return res;
  }

  /** Graceful stop (SIGTERM, SIGKILL after 5 s). */
  async stop() { return this.#signalAndWait('SIGTERM', 5000); }

  /** Crash: SIGKILL and wait for the process to be gone. */
  async kill9() { return this.#signalAndWait('SIGKILL', 5000); }

  /** Start again on the same db (and a fresh port). */
  async restart() {
    if (this.proc && !this.exitInfo) await this.stop();
    return this.start();
  }

  /** Stop and remove the temp dir (if this server created it). */
  async dispose() {
    await this.stop();
    if (this.ownsDir) removeTempDir(this.dir);
  }

  /** API client for `token` (default: the operator token). Follows restarts. */
  api(token = this.operatorToken) { return new ApiClient(() => this.baseUrl, token); }
}

/**
 * The usual set-up of a test file: one server for all its tests, and receivers
 * that live until the file is done. Call it at the top level; it registers the
 * node:test hooks. opts: as startServer.
 * Returns {server, receiver(spec)}: `server` is the HookdServer, made at once
 * (so it can be destructured) and started in `before`; `receiver(spec)` is
 * startReceiver(spec), closed in `after` before the server is disposed.
 */
export function useServer(opts = {}) {
  const server = new HookdServer(opts);
  const receivers = [];
  before(async () => { await server.start(); });
  after(async () => {
    for (const r of receivers) await r.close();
    await server.dispose();
  });
  return {
    server,
    async receiver(spec) {
      const r = await startReceiver(spec);
      receivers.push(r);
      return r;
    },
  };
}

// ----------------------------------------------------------------- http client

/**
 * One HTTP request with node:http (no keep-alive). body: object (sent as
 * JSON), string or Buffer. Returns {status, headers, text, json, body}.
 * Tolerates the server answering before it has read the whole body (413).
 */
export function rawRequest(baseUrl, method, urlPath, { body, headers = {}, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(urlPath, baseUrl);
    let payload;
    const h = { ...headers };
    if (body !== undefined && body !== null) {
      if (Buffer.isBuffer(body)) payload = body;
      else if (typeof body === 'string') payload = Buffer.from(body);
      else {
        payload = Buffer.from(JSON.stringify(body));
        if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
      }
      h['content-length'] = String(payload.length);
    }
    let settled = false;
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json = null;
        if (text.length) { try { json = JSON.parse(text); } catch { json = null; } }
        resolve({ status: res.statusCode, headers: res.headers, text, json, body: buf });
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(new Error(`${method} ${urlPath}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      // EPIPE/ECONNRESET while still writing is fine if a response arrives.
      setTimeout(() => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      }, 200);
    });
    if (payload) req.write(payload, () => {});
    req.end();
  });
}

export class ApiClient {
  constructor(baseUrlFn, token) {
    this.baseUrlFn = typeof baseUrlFn === 'function' ? baseUrlFn : () => baseUrlFn;
    this.token = token;
  }

  request(method, urlPath, body, { headers = {}, auth = true, timeoutMs } = {}) {
    const h = { accept: 'application/json', ...headers };
    if (auth && this.token) h.authorization = `Bearer ${this.token}`;
    return rawRequest(this.baseUrlFn(), method, urlPath, { body, headers: h, timeoutMs });
  }

  get(p, o) { return this.request('GET', p, undefined, o); }
  post(p, body, o) { return this.request('POST', p, body, o); }
  patch(p, body, o) { return this.request('PATCH', p, body, o); }
  put(p, body, o) { return this.request('PUT', p, body, o); }
  del(p, o) { return this.request('DELETE', p, undefined, o); }
}

/** Throw with the full response when status is not `expected`. */
export function expectStatus(res, expected, what = 'request') {
  const ok = Array.isArray(expected) ? expected.includes(res.status) : res.status === expected;
  if (!ok) {
    throw new Error(`${what}: expected HTTP ${expected}, got ${res.status}: ${res.text.slice(0, 2000)}`);
  }
  return res;
}

/** Short printable form of a response, for assertion messages. */
export function show(res) {
  return `HTTP ${res.status} ${res.headers['content-type'] ?? ''} ${res.text.slice(0, 1500)}`;
}

// ------------------------------------------------------------ domain helpers

/**
 * Create a site plus an admin and a publisher token through the API.
 * Returns {siteId, site, admin, publisher, adminToken, publisherToken, operator}.
 */
export async function setupSite(server, siteId = randomId('site')) {
  const operator = server.api();
  const s = expectStatus(await operator.post('/v1/sites', { id: siteId, name: `Site ${siteId}` }), 201, `POST /v1/sites ${siteId}`);
  const a = expectStatus(await operator.post(`/v1/sites/${siteId}/tokens`, { role: 'admin', name: 'e2e admin' }), 201, 'create admin token');
  const p = expectStatus(await operator.post(`/v1/sites/${siteId}/tokens`, { role: 'publisher', name: 'e2e publisher' }), 201, 'create publisher token');
  if (typeof a.json?.token !== 'string' || typeof p.json?.token !== 'string') {
    throw new Error(`token creation did not return a token: ${a.text} / ${p.text}`);
  }
  return {
    siteId,
    site: s.json,
    operator,
    adminToken: a.json.token,
    publisherToken: p.json.token,
    admin: server.api(a.json.token),
    publisher: server.api(p.json.token),
  };
}

/** POST a webhook (defaults: POST, all events, sendEverything, secret mySecret); returns the 201 body. */
export async function createWebhook(site, fields = {}) {
  const body = {
    secret: SECRET, events: [...EVENT_TYPES], method: 'POST', sendEverything: true, ...fields,
  };
  const res = expectStatus(await site.admin.post(`/v1/sites/${site.siteId}/webhooks`, body), 201, 'create webhook');
  return res.json;
}

/** Publish one event object or an array (sent as {"events":[...]}); returns the 202 body. */
export async function publish(site, events, { headers } = {}) {
  const body = Array.isArray(events) ? { events } : events;
  const res = expectStatus(await site.publisher.post(`/v1/sites/${site.siteId}/events`, body, { headers }), 202, 'publish events');
  return res.json;
}

/** Every delivery of a webhook (walks nextCursor). */
export async function listDeliveries(site, webhookId, { state, limit = 1000 } = {}) {
  const out = [];
  let cursor = null;
  for (let page = 0; page < 10000; page++) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (state) q.set('state', state);
    if (cursor) q.set('cursor', cursor);
    const res = expectStatus(await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${webhookId}/deliveries?${q}`), 200, 'list deliveries');
    out.push(...res.json.data);
    cursor = res.json.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('listDeliveries: too many pages');
}

export async function getDelivery(site, deliveryId) {
  return expectStatus(await site.admin.get(`/v1/sites/${site.siteId}/deliveries/${deliveryId}`), 200, 'get delivery').json;
}

export async function getWebhook(site, webhookId) {
  return expectStatus(await site.admin.get(`/v1/sites/${site.siteId}/webhooks/${webhookId}`), 200, 'get webhook').json;
}

// ----------------------------------------------------------------- signatures

export function hmacHex(secret, msg) {
  return crypto.createHmac('sha256', Buffer.from(secret)).update(msg).digest('hex');
}

export function legacySignature(secret, event, entity, id) {
  return hmacHex(secret, `${event}:${entity}:${id}`);
}

/** Standard Webhooks v1 signature over `${id}.${ts}.${content}` keyed with the raw secret bytes. */
export function standardSignature(secret, msgId, ts, content) {
  return crypto.createHmac('sha256', Buffer.from(secret)).update(`${msgId}.${ts}.${content}`).digest('base64');
}

/** True when `header` (space-separated `v1,<b64>` list) carries `sigB64`. */
export function headerHasSignature(header, sigB64) {
  if (typeof header !== 'string') return false;
  return header.split(' ').some((p) => {
    const [v, s] = p.split(',');
    return v === 'v1' && s === sigB64;
  });
}

// ------------------------------------------------------------------ receiver

/**
 * An HTTP receiver on 127.0.0.1 that records every request and answers as
 * programmed. Each record: {method, url, path, query, headers, rawHeaders,
 * body (Buffer), text, at (ms), status (answered), answeredAt}.
 *
 * program({sequence: [500, 500], status: 200, delayMs: 0, hang: false,
 *          headers: {}, body: 'ok'}) — `sequence` is consumed one status per
 * request, then `status` applies. `hang: true` never answers (connections
 * are destroyed on close()). Or program(fn) where fn(record) returns
 * {status, body, headers, delayMs, hang}.
 *
 * With {tls: {key, cert}} it serves HTTPS (url() then starts with https://).
 *
 * Concurrency: `concurrent` is the number of requests received and not yet
 * answered or aborted, `maxConcurrent` the most open at once so far, known 200 ms
 * after each arrival (a request the client abandoned within those 200 ms does not
 * count against the next one); each record also carries `concurrentAtArrival`.
 */
export async function startReceiver(programSpec = {}, { port = 0, tls } = {}) {
  const r = new Receiver({ tls });
  r.program(programSpec);
  await r.listen(port);
  return r;
}

export class Receiver {
  /** tls: {key, cert} (PEM) makes it an HTTPS receiver; tlsErrors counts failed handshakes. */
  constructor({ tls } = {}) {
    this.tls = tls ?? null;
    this.tlsErrors = 0;
    this.requests = [];
    this.sockets = new Set();
    this.server = null;
    this.port = null;
    this.prog = {};
    this.seq = [];
    this.concurrent = 0;
    this.maxConcurrent = 0;
    this.open = new Set();  // requests not yet answered or abandoned
  }

  program(spec = {}) {
    if (typeof spec === 'function') { this.prog = { fn: spec }; this.seq = []; return this; }
    this.prog = { status: 200, delayMs: 0, hang: false, headers: {}, body: 'ok', ...spec };
    this.seq = [...(spec.sequence ?? [])];
    return this;
  }

  listen(port = 0) {
    return new Promise((resolve, reject) => {
      const onRequest = (req, res) => this.#onRequest(req, res);
      const server = this.tls ? https.createServer(this.tls, onRequest) : http.createServer(onRequest);
      if (this.tls) server.on('tlsClientError', () => { this.tlsErrors += 1; });
      server.keepAliveTimeout = 5000;
      server.on('connection', (s) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      });
      server.on('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.server = server;
        this.port = server.address().port;
        resolve(this);
      });
    });
  }

  #onRequest(req, res) {
    this.concurrent += 1;
    const arrivalConcurrency = this.concurrent;
    // The high-water mark: the requests open when this one arrived, except those the
    // client abandoned within the next 200 ms. A client that gives up on a request (its
    // timeout) closes that connection before it opens the next one, but under load we
    // may see the new request first: that is not two requests open at once. A request
    // we answer (or that stays open) always counts, so real overlaps are never hidden.
    const self = { aborted: false };
    const others = [...this.open];
    this.open.add(self);
    setTimeout(() => {
      const overlapping = others.filter((o) => !o.aborted).length + 1;
      this.maxConcurrent = Math.max(this.maxConcurrent, overlapping);
    }, 200).unref();
    // 'close' fires once: after the answer is sent or when the client aborts.
    res.on('close', () => {
      this.concurrent -= 1;
      this.open.delete(self);
      self.aborted = !res.writableEnded;
    });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      // Raw request target, split by hand: WHATWG URL parsing would resolve
      // dot segments (also %2E%2E) and hide what hookd actually sent.
      const q = req.url.indexOf('?');
      const rec = {
        method: req.method, url: req.url,
        path: q < 0 ? req.url : req.url.slice(0, q), query: q < 0 ? '' : req.url.slice(q),
        headers: { ...req.headers }, rawHeaders: [...req.rawHeaders],
        body, text: body.toString('utf8'), at: Date.now(), status: null, answeredAt: null,
        concurrentAtArrival: arrivalConcurrency,
      };
      this.requests.push(rec);
      let act;
      if (this.prog.fn) act = { status: 200, body: 'ok', headers: {}, ...(await this.prog.fn(rec)) };
      else {
        const status = this.seq.length ? this.seq.shift() : this.prog.status;
        act = { ...this.prog, status };
      }
      if (act.hang) return; // never answer
      if (act.delayMs) await sleep(act.delayMs);
      if (res.destroyed) return;
      rec.status = act.status;
      rec.answeredAt = Date.now();
      res.writeHead(act.status, { 'content-type': 'text/plain', ...(act.headers ?? {}) });
      res.end(act.body ?? '');
    });
  }

  /** URL on this receiver, e.g. url('/hooks?x=1'). */
  url(p = '/hooks', host = '127.0.0.1') { return `${this.tls ? 'https' : 'http'}://${host}:${this.port}${p}`; }

  clear() { this.requests = []; this.maxConcurrent = this.concurrent; }

  /** Requests answered with 2xx. */
  get succeeded() { return this.requests.filter((r) => r.status >= 200 && r.status < 300); }

  /** Stop listening and drop every connection (hung ones included). */
  close() {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      const s = this.server;
      this.server = null;
      for (const sock of this.sockets) sock.destroy();
      this.sockets.clear();
      s.close(() => resolve());
      if (s.closeAllConnections) s.closeAllConnections();
    });
  }
}
