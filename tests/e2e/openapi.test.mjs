// The OpenAPI document is the behaviour (issue 12, point 8).
//
// Every operation of the document the binary serves at /v1/openapi.json is called
// for real: its success answers and representative errors. Every answer is checked
// against the document: its status is listed for that operation, its content type
// for that status, its body validates against that schema (JSON Schema 2020-12, ajv)
// and the headers the document marks required are there. A 2xx answer also checks
// the request: what the server accepted must be valid by the document's parameter
// and request-body schemas. Lists must come in the order their description states.
// The last test fails when an operation of the document was not exercised, or when
// a status it documents was never seen (except those in notReproduced(), each with
// its reason).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import {
  HookdServer, REPO_ROOT, SECRET, legacySignature, rawRequest, show, sleep, startReceiver, usePostgres, waitFor,
} from './support.mjs';

const T = { timeout: 60000 };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMAS_ID = 'urn:hookd:openapi:schemas';
const METRICS_TOKEN = `metrics-${crypto.randomBytes(8).toString('hex')}`;
const MAX_U64 = '18446744073709551615';
// Ids that are well formed but exist nowhere.
const MISSING = { tokens: `tok_${'0'.repeat(26)}`, webhooks: `wh_${'0'.repeat(26)}`, deliveries: `dlv_${'0'.repeat(26)}` };

// ------------------------------------------------------------------ the contract

/** Deep copy of `schema` with its schema references pointing into the registered $defs. */
function rewriteRefs(schema) {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      out[k] = `${SCHEMAS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`;
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

const mediaType = (ct) => (ct ?? '').split(';')[0].trim().toLowerCase();

/** A query, path or header value as its schema types it. */
function typed(schema, value) {
  const types = [].concat(schema?.type ?? []);
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

class Contract {
  constructor(doc) {
    this.doc = doc;
    this.ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(doc.components.schemas) });
    this.validators = new WeakMap();
    this.operations = [];
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const m of METHODS) {
        if (!item[m]) continue;
        const op = item[m];
        const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((x) => this.resolve(x));
        const security = op.security ?? doc.security ?? [];
        this.operations.push({ key: `${m.toUpperCase()} ${p}`, method: m.toUpperCase(), path: p, op, params, secured: security.length > 0 });
      }
    }
    this.seen = new Map(this.operations.map((o) => [o.key, new Set()]));
  }

  resolve(x) {
    let v = x;
    for (let hops = 0; v && typeof v.$ref === 'string'; hops++) {
      assert.ok(hops < 10 && v.$ref.startsWith('#/'), `unresolvable $ref ${v.$ref}`);
      const ref = v.$ref;
      v = ref.slice(2).split('/').reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], this.doc);
      assert.ok(v, `$ref ${ref} points nowhere`);
    }
    return v;
  }

  operation(method, template) {
    const o = this.operations.find((x) => x.method === method && x.path === template);
    assert.ok(o, `${method} ${template} is not in the document`);
    return o;
  }

  /** Error text when `value` does not validate against `schema`, else null. */
  invalid(schema, value) {
    let v = this.validators.get(schema);
    if (!v) {
      v = this.ajv.compile(rewriteRefs(schema));
      this.validators.set(schema, v);
    }
    if (v(value)) return null;
    return this.ajv.errorsText(v.errors, { separator: '; ' });
  }

  /** Every way `res` (the answer to `req` on `o`) disagrees with the document. */
  disagreements(o, req, res) {
    const out = [];
    const status = String(res.status);
    const documented = o.op.responses[status] ?? o.op.responses.default;
    if (!documented) return [`status ${status} is not documented for ${o.key} (documented: ${Object.keys(o.op.responses).join(', ')})`];
    this.seen.get(o.key).add(status);
    const resp = this.resolve(documented);
    const ct = mediaType(res.headers['content-type']);
    if (resp.content) {
      const media = resp.content[ct];
      if (!media) {
        out.push(`content type ${JSON.stringify(ct)} is not documented for ${status} (documented: ${Object.keys(resp.content).join(', ')})`);
      } else if (media.schema) {
        let body = res.text;
        if (ct.endsWith('json')) {
          if (res.json === null) out.push(`body is not JSON: ${res.text.slice(0, 200)}`);
          body = res.json;
        }
        const e = this.invalid(media.schema, body);
        if (e) out.push(`body does not match the ${status} schema: ${e}`);
      }
    } else if (res.text.length > 0) {
      out.push(`${status} documents no content but the answer has a body: ${res.text.slice(0, 200)}`);
    }
    for (const [name, h] of Object.entries(resp.headers ?? {})) {
      const header = this.resolve(h);
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) out.push(`required header ${name} is missing`);
        continue;
      }
      if (header.schema) {
        const e = this.invalid(header.schema, typed(header.schema, value));
        if (e) out.push(`header ${name}: ${JSON.stringify(value)} ${e}`);
      }
    }
    if (res.status >= 200 && res.status < 300) out.push(...this.requestDisagreements(o, req));
    return out;
  }

  /** What the server accepted must be valid by the document. */
  requestDisagreements(o, req) {
    const out = [];
    for (const p of o.params) {
      const value = p.in === 'path' ? req.params?.[p.name]
        : p.in === 'query' ? req.query?.[p.name]
          : p.in === 'header' ? Object.entries(req.headers ?? {}).find(([k]) => k.toLowerCase() === p.name.toLowerCase())?.[1]
            : undefined;
      if (value === undefined) {
        if (p.required) out.push(`accepted without the required ${p.in} parameter ${p.name}`);
        continue;
      }
      const e = p.schema && this.invalid(p.schema, typed(this.resolve(p.schema), String(value)));
      if (e) out.push(`accepted ${p.in} parameter ${p.name}=${JSON.stringify(value)}, which the document says is invalid: ${e}`);
    }
    for (const name of Object.keys(req.query ?? {})) {
      if (!o.params.some((p) => p.in === 'query' && p.name === name)) out.push(`accepted the undocumented query parameter ${name}`);
    }
    const rb = o.op.requestBody && this.resolve(o.op.requestBody);
    if (req.body === undefined) {
      if (rb?.required) out.push('accepted without the required request body');
    } else if (!rb) {
      out.push('the test sent a body to an operation that documents none');
    } else {
      const schema = rb.content?.['application/json']?.schema;
      let body = req.body;
      if (typeof body === 'string') {
        try { body = JSON.parse(body); } catch { out.push('accepted a body that is not JSON'); return out; }
      }
      const e = schema && this.invalid(schema, body);
      if (e) out.push(`accepted a request body the document says is invalid: ${e} — ${JSON.stringify(body).slice(0, 300)}`);
    }
    return out;
  }
}

// ------------------------------------------------------------------ fixtures

const main = new HookdServer({ extraArgs: ['--metrics-token', METRICS_TOKEN] });
let contract;
let rx;
const cleanup = [];

before(async () => {
  await main.start();
  rx = await startReceiver({ status: 200 });
  const r = await rawRequest(main.baseUrl, 'GET', '/v1/openapi.json');
  assert.equal(r.status, 200, show(r));
  contract = new Contract(r.json);
  check('GET', '/v1/openapi.json', {}, r);
});

after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
  if (rx) await rx.close();
  await main.dispose();
});

function check(method, template, req, res) {
  const o = contract.operation(method, template);
  const problems = contract.disagreements(o, req, res);
  assert.deepEqual(problems, [], `${o.key} (${JSON.stringify(req).slice(0, 300)}) → ${show(res)}`);
}

/**
 * Calls `method template` on `server` with `token` and checks the answer against the
 * document. opts: params (path), query (object), body (object or string), headers,
 * expect (status the test requires).
 */
async function call(server, token, method, template, { params = {}, query, body, headers = {}, expect } = {}) {
  let p = template.replace(/\{(\w+)\}/g, (_, n) => {
    assert.ok(params[n] !== undefined, `${template}: no value for {${n}}`);
    return encodeURIComponent(params[n]);
  });
  if (query) p += `?${new URLSearchParams(query)}`;
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (typeof body === 'string') h['content-type'] = 'application/json';
  const res = await rawRequest(server.baseUrl, method, p, { body, headers: h });
  check(method, template, { params, query, body, headers }, res);
  if (expect !== undefined) assert.equal(res.status, expect, `${method} ${p}: ${show(res)}`);
  return res;
}

/** A site with an admin and a publisher token, made through the API (so checked too). */
async function newSite(server, id = `oa-${crypto.randomBytes(4).toString('hex')}`) {
  const op = server.operatorToken;
  await call(server, op, 'POST', '/v1/sites', { body: { id, name: `Site ${id}` }, expect: 201 });
  const tokens = {};
  for (const role of ['admin', 'publisher']) {
    const r = await call(server, op, 'POST', '/v1/sites/{site}/tokens', { params: { site: id }, body: { role, name: `${role} of ${id}` }, expect: 201 });
    tokens[role] = r.json.token;
  }
  return { id, admin: tokens.admin, publisher: tokens.publisher, operator: op };
}

async function newWebhook(server, site, fields = {}) {
  const body = { payloadUrl: rx.url('/oa'), secret: SECRET, events: ['CREATE', 'UPDATE'], sendEverything: true, ...fields };
  return (await call(server, site.admin, 'POST', '/v1/sites/{site}/webhooks', { params: { site: site.id }, body, expect: 201 })).json;
}

const since = () => new Date(Date.now() - 3600_000).toISOString();

// ------------------------------------------------------------------ tests

describe('every operation of the document, checked against it', () => {
  let site;
  before(async () => { site = await newSite(main); });

  test('the served document is src/api/openapi.json, and all its schemas compile', T, () => {
    const source = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'src', 'api', 'openapi.json'), 'utf8'));
    assert.deepEqual(contract.doc, source);
    for (const name of Object.keys(contract.doc.components.schemas)) {
      assert.ok(contract.ajv.getSchema(`${SCHEMAS_ID}#/$defs/${name}`), `schema ${name} compiles`);
    }
  });

  test('system routes', T, async () => {
    await call(main, null, 'GET', '/healthz', { expect: 200 });
    await call(main, null, 'GET', '/readyz', { expect: 200 });
    await call(main, METRICS_TOKEN, 'GET', '/metrics', { expect: 200 });
    await call(main, null, 'GET', '/metrics', { expect: 401 });
    await call(main, site.admin, 'GET', '/metrics', { expect: 401 });
    await call(main, null, 'GET', '/v1/openapi.json', { expect: 200 });
    for (const token of [main.operatorToken, site.admin, site.publisher]) {
      await call(main, token, 'GET', '/v1/me', { expect: 200 });
      await call(main, token, 'GET', '/v1/catalog', { expect: 200 });
    }
  });

  test('sites: create (name optional), get, list, errors', T, async () => {
    const op = main.operatorToken;
    const tag = crypto.randomBytes(3).toString('hex');
    await call(main, op, 'POST', '/v1/sites', { body: { id: `aa-${tag}`, name: 'First' }, expect: 201 });
    await sleep(5);
    const noName = await call(main, op, 'POST', '/v1/sites', { body: { id: `zz-${tag}` }, expect: 201 });
    assert.equal(noName.json.name, `zz-${tag}`, 'a site created without a name is named after its id');
    const dup = await call(main, op, 'POST', '/v1/sites', { body: { id: `aa-${tag}`, name: 'Again' }, expect: 409 });
    assert.match(dup.json.detail, /exists/);
    await call(main, op, 'POST', '/v1/sites', { body: { id: 'Not A Slug' }, expect: 422 });
    await call(main, op, 'POST', '/v1/sites', { body: { name: 'no id' }, expect: 422 });
    await call(main, op, 'POST', '/v1/sites', { body: '{"id":', expect: 400 });
    await call(main, op, 'GET', '/v1/sites/{site}', { params: { site: `aa-${tag}` }, expect: 200 });
    await call(main, op, 'GET', '/v1/sites/{site}', { params: { site: `missing-${tag}` }, expect: 404 });
    await call(main, op, 'GET', '/v1/sites', { expect: 200 });
    await call(main, op, 'GET', '/v1/sites', { query: { limit: '1' }, expect: 200 });
  });

  test('tokens: issue, list, revoke, errors', T, async () => {
    const op = main.operatorToken;
    const spare = await call(main, op, 'POST', '/v1/sites/{site}/tokens', { params: { site: site.id }, body: { role: 'publisher' }, expect: 201 });
    await call(main, op, 'POST', '/v1/sites/{site}/tokens', { params: { site: site.id }, body: { role: 'operator' }, expect: 422 });
    await call(main, op, 'POST', '/v1/sites/{site}/tokens', { params: { site: site.id }, body: '[1,', expect: 400 });
    await call(main, op, 'POST', '/v1/sites/{site}/tokens', { params: { site: 'no-such-site' }, body: { role: 'admin' }, expect: 404 });
    await call(main, op, 'GET', '/v1/sites/{site}/tokens', { params: { site: site.id }, expect: 200 });
    await call(main, op, 'GET', '/v1/sites/{site}/tokens', { params: { site: 'no-such-site' }, expect: 404 });
    await call(main, op, 'DELETE', '/v1/sites/{site}/tokens/{id}', { params: { site: site.id, id: spare.json.id }, expect: 204 });
    await call(main, op, 'DELETE', '/v1/sites/{site}/tokens/{id}', { params: { site: site.id, id: spare.json.id }, expect: 404 });
    await call(main, spare.json.token, 'GET', '/v1/me', { expect: 401 });
  });

  test('webhooks: create (secret given, omitted, null), read, list, update, errors', T, async () => {
    const s = { site: site.id };
    const given = await newWebhook(main, site);
    assert.equal(given.secret, '********');
    for (const secret of [undefined, null]) {
      const body = { payloadUrl: rx.url('/gen'), events: ['CREATE'], sendEverything: true };
      if (secret !== undefined) body.secret = secret;
      const gen = await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks', { params: s, body, expect: 201 });
      assert.match(gen.json.secret, /^[A-Za-z0-9_-]{32}$/, 'a generated secret is 32 base64url characters, shown once');
      const again = await call(main, site.admin, 'GET', '/v1/sites/{site}/webhooks/{id}', { params: { ...s, id: gen.json.id }, expect: 200 });
      assert.equal(again.json.secret, '********');
    }
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks', { params: s, body: { payloadUrl: 'ftp://x/y', events: ['CREATE'], sendEverything: true }, expect: 422 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks', { params: s, body: '{"payloadUrl"', expect: 400 });
    await call(main, site.admin, 'GET', '/v1/sites/{site}/webhooks', { params: s, expect: 200 });
    await call(main, site.admin, 'GET', '/v1/sites/{site}/webhooks/{id}', { params: { ...s, id: MISSING.webhooks }, expect: 404 });

    const one = { ...s, id: given.id };
    // PATCH without a secret, or with "" or the mask, keeps the secret.
    await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: one, body: { description: 'patched' }, expect: 200 });
    await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: one, body: { secret: '', timeoutMs: 5000 }, expect: 200 });
    await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: one, body: { secret: '********', rateLimitPerSecond: null }, expect: 200 });
    // A webhook object as read can be sent back: its read-only fields are ignored.
    const read = await call(main, site.admin, 'GET', '/v1/sites/{site}/webhooks/{id}', { params: one, expect: 200 });
    const back = await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: one, body: read.json, expect: 200 });
    assert.equal(back.json.createdAt, read.json.createdAt);
    await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: one, body: { events: [] }, expect: 422 });
    await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: one, body: '{', expect: 400 });
    await call(main, site.admin, 'PATCH', '/v1/sites/{site}/webhooks/{id}', { params: { ...s, id: MISSING.webhooks }, body: { enabled: false }, expect: 404 });

    // Test messages: still signed with the original secret after those PATCHes.
    rx.clear();
    const t1 = await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/test', { params: one, expect: 200 });
    assert.equal(t1.json.status, 200);
    const t2 = await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/test', { params: one, body: { event: 'UPDATE', entity: 'Room', entityId: 7 }, expect: 200 });
    assert.match(t2.json.deliveryId, /^dlv_/);
    const got = rx.requests.find((q) => q.text.includes('"entityId":7'));
    assert.ok(got, 'the test message arrived');
    assert.equal(got.headers['x-ioffice-signature'], legacySignature(SECRET, 'UPDATE', 'Room', 7), 'PATCH without a new secret kept it');
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/test', { params: one, body: { event: 'EXPLODE' }, expect: 422 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/test', { params: one, body: '{', expect: 400 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/test', { params: { ...s, id: MISSING.webhooks }, expect: 404 });

    // Receiver check: rx answers 200 to anything, so forged signatures are accepted.
    const checked = await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/check', { params: one, expect: 200 });
    assert.equal(checked.json.passed, false);
    assert.equal(checked.json.checks.find((c) => c.name === 'forged-signature').result, 'FAIL');
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/check', { params: one, body: {}, expect: 200 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/check', { params: one, body: { method: 'GET' }, expect: 422 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/check', { params: one, body: '{', expect: 400 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/check', { params: { ...s, id: MISSING.webhooks }, expect: 404 });

    // Rotation: a generated secret is shown once, a given one is masked.
    const r1 = await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/rotate-secret', { params: one, expect: 200 });
    assert.match(r1.json.secret, /^[A-Za-z0-9_-]{32}$/);
    const r2 = await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/rotate-secret', { params: one, body: { secret: 'myNewSecret', graceSeconds: 0 }, expect: 200 });
    assert.equal(r2.json.secret, '********');
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/rotate-secret', { params: one, body: { graceSeconds: -1 }, expect: 422 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/rotate-secret', { params: one, body: '{', expect: 400 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/rotate-secret', { params: { ...s, id: MISSING.webhooks }, expect: 404 });

    // Replay, in each state the server accepts.
    for (const state of ['failed', 'succeeded', 'cancelled', null]) {
      await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/replay', { params: one, body: { since: since(), state }, expect: 202 });
    }
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/replay', { params: one, body: { since: since(), until: new Date().toISOString() }, expect: 202 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/replay', { params: one, body: { state: 'failed' }, expect: 422 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/replay', { params: one, body: { since: since(), state: 'pending' }, expect: 422 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/replay', { params: one, body: '{', expect: 400 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/replay', { params: { ...s, id: MISSING.webhooks }, body: { since: since() }, expect: 404 });
  });

  test('events, deliveries, retries, delete (incl. the largest entity id)', T, async () => {
    const s = { site: site.id };
    const wh = await newWebhook(main, site);
    const one = { ...s, id: wh.id };
    const ev = '/v1/sites/{site}/events';
    const single = await call(main, site.publisher, 'POST', ev, { params: s, body: { event: 'CREATE', entity: 'Agreement', entityId: MAX_U64 }, expect: 202 });
    // JSON.stringify cannot write 2^64-1 exactly: send the number as text.
    const big = await call(main, site.publisher, 'POST', ev, { params: s, body: `{"event":"CREATE","entity":"Agreement","entityId":${MAX_U64}}`, expect: 202 });
    const key = { 'Idempotency-Key': `oa-${crypto.randomBytes(4).toString('hex')}` };
    const batch = { events: [{ event: 'create', entity: 'room', entityId: 'B1-204' }, { event: 'UPDATE', entity: 'Room', entityId: 0 }] };
    const first = await call(main, site.publisher, 'POST', ev, { params: s, body: batch, headers: key, expect: 202 });
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const repeat = await call(main, site.publisher, 'POST', ev, { params: s, body: batch, headers: key, expect: 202 });
    assert.equal(repeat.headers['idempotent-replayed'], 'true');
    assert.deepEqual(repeat.json.ids, first.json.ids);
    await call(main, site.publisher, 'POST', ev, { params: s, body: { event: 'CREATE', entity: 'Spaceship', entityId: 1 }, expect: 422 });
    await call(main, site.publisher, 'POST', ev, { params: s, body: { events: [] }, expect: 422 });
    await call(main, site.publisher, 'POST', ev, { params: s, body: '{"event"', expect: 400 });

    const list = '/v1/sites/{site}/webhooks/{id}/deliveries';
    const ds = await waitFor(async () => {
      const r = await call(main, site.admin, 'GET', list, { params: one, query: { state: 'succeeded' }, expect: 200 });
      return r.json.data.length === 4 ? r.json.data : null;
    }, 15000, { message: '4 succeeded deliveries' });
    const bigOne = await call(main, site.admin, 'GET', list, { params: one, expect: 200 });
    assert.ok(bigOne.text.includes(`"entityId":${MAX_U64}`), `2^64-1 listed exactly: ${bigOne.text.slice(0, 300)}`);
    assert.ok([single, big].every((r) => ds.some((d) => d.eventId === r.json.ids[0])));
    await call(main, site.admin, 'GET', list, { params: one, query: { state: 'cancelled', since: since(), until: new Date(Date.now() + 60_000).toISOString(), limit: '10' }, expect: 200 });
    const badState = await call(main, site.admin, 'GET', list, { params: one, query: { state: 'bogus' }, expect: 400 });
    assert.ok(badState.json.errors.some((e) => e.field === 'state'), badState.text);
    await call(main, site.admin, 'GET', list, { params: { ...s, id: MISSING.webhooks }, expect: 404 });

    // Health: the attempts just made are in the current interval, in both windows.
    const health = '/v1/sites/{site}/webhooks/{id}/health';
    const day = await call(main, site.admin, 'GET', health, { params: one, expect: 200 });
    assert.equal(day.json.intervals.length, 24);
    assert.ok(day.json.intervals.at(-1).succeeded >= 4, day.text.slice(0, 500));
    const week = await call(main, site.admin, 'GET', health, { params: one, query: { window: '7d' }, expect: 200 });
    assert.equal(week.json.intervals.length, 28);
    assert.equal(week.json.totals.succeeded, day.json.totals.succeeded);
    await call(main, site.admin, 'GET', health, { params: one, query: { window: '24h' }, expect: 200 });
    const badWindow = await call(main, site.admin, 'GET', health, { params: one, query: { window: '1y' }, expect: 400 });
    assert.ok(badWindow.json.errors.some((e) => e.field === 'window'), badWindow.text);
    await call(main, site.admin, 'GET', health, { params: { ...s, id: MISSING.webhooks }, expect: 404 });
    const all = await call(main, site.admin, 'GET', '/v1/sites/{site}/health', { params: s, query: { window: '7d' }, expect: 200 });
    assert.ok(all.json.data.some((h) => h.webhookId === wh.id));
    await call(main, site.admin, 'GET', '/v1/sites/{site}/health', { params: s, expect: 200 });
    await call(main, site.admin, 'GET', '/v1/sites/{site}/health', { params: s, query: { window: 'week' }, expect: 400 });

    const did = ds[0].id;
    const d1 = await call(main, site.admin, 'GET', '/v1/sites/{site}/deliveries/{did}', { params: { ...s, did }, expect: 200 });
    assert.ok(d1.json.attempts.length >= 1);
    await call(main, site.admin, 'GET', '/v1/sites/{site}/deliveries/{did}', { params: { ...s, did: MISSING.deliveries }, expect: 404 });
    await call(main, site.admin, 'GET', '/v1/sites/{site}/webhooks/{id}/deliveries/{did}', { params: { ...one, did }, expect: 200 });
    await call(main, site.admin, 'GET', '/v1/sites/{site}/webhooks/{id}/deliveries/{did}', { params: { ...one, did: MISSING.deliveries }, expect: 404 });
    // A manual retry makes the delivery pending and due now.
    const retried = await call(main, site.admin, 'POST', '/v1/sites/{site}/deliveries/{did}/retry', { params: { ...s, did }, expect: 202 });
    assert.equal(retried.json.state, 'pending');
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/deliveries/{did}/retry', { params: { ...one, did: ds[1].id }, expect: 202 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/deliveries/{did}/retry', { params: { ...s, did: MISSING.deliveries }, expect: 404 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/deliveries/{did}/retry', { params: { ...one, did: MISSING.deliveries }, expect: 404 });

    // Once its webhook is deleted, a delivery can be read but not retried (409).
    await waitFor(async () => {
      const r = await call(main, site.admin, 'GET', list, { params: one, query: { state: 'pending' }, expect: 200 });
      return r.json.data.length === 0;
    }, 15000, { message: 'retried deliveries done' });
    await call(main, site.admin, 'DELETE', '/v1/sites/{site}/webhooks/{id}', { params: one, expect: 204 });
    await call(main, site.admin, 'DELETE', '/v1/sites/{site}/webhooks/{id}', { params: one, expect: 404 });
    await call(main, site.admin, 'GET', '/v1/sites/{site}/deliveries/{did}', { params: { ...s, did }, expect: 200 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/deliveries/{did}/retry', { params: { ...s, did }, expect: 409 });
    await call(main, site.admin, 'POST', '/v1/sites/{site}/webhooks/{id}/deliveries/{did}/retry', { params: { ...one, did }, expect: 409 });
  });

  test('audit log', T, async () => {
    const r = await call(main, site.admin, 'GET', '/v1/sites/{site}/audit', { params: { site: site.id }, expect: 200 });
    assert.ok(r.json.data.length > 3);
    for (const e of r.json.data) assert.match(e.id, /^aud_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  test('lists come in the order their description states, and every page follows by its cursor', T, async () => {
    const lists = contract.operations.filter((o) => o.method === 'GET' && o.params.some((p) => p.name === 'cursor'));
    assert.ok(lists.length >= 5, `list operations: ${lists.map((o) => o.key)}`);
    const wh = await newWebhook(main, site);
    for (let i = 0; i < 3; i++) {
      await call(main, site.publisher, 'POST', '/v1/sites/{site}/events', { params: { site: site.id }, body: { event: 'UPDATE', entity: 'Room', entityId: i }, expect: 202 });
    }
    for (const o of lists) {
      const d = o.op.description;
      const order = /newest first/i.test(d) ? 'newest' : /in id order|sorted by id/i.test(d) ? 'id' : null;
      assert.ok(order, `${o.key}: the description states no order: ${d}`);
      const params = { site: site.id, id: wh.id };
      const items = [];
      let cursor = null;
      for (let page = 0; page < 500; page++) {
        const query = { limit: '2' };
        if (cursor) query.cursor = cursor;
        const r = await call(main, o.path.includes('/sites/{site}/tokens') || o.path === '/v1/sites' ? main.operatorToken : site.admin, 'GET', o.path, { params, query, expect: 200 });
        assert.ok(r.json.data.length <= 2);
        items.push(...r.json.data);
        cursor = r.json.nextCursor;
        if (!cursor) break;
      }
      assert.equal(cursor, null, `${o.key}: the pages end`);
      assert.ok(items.length >= 2, `${o.key}: at least two items to order (${items.length})`);
      assert.equal(new Set(items.map((x) => x.id)).size, items.length, `${o.key}: no item twice`);
      for (let i = 1; i < items.length; i++) {
        const [a, b] = [items[i - 1], items[i]];
        if (order === 'id') {
          assert.ok(a.id < b.id, `${o.key}: "${d}" but ${a.id} comes before ${b.id}`);
        } else {
          const [ta, tb] = [a.createdAt ?? a.at, b.createdAt ?? b.at];
          assert.ok(ta >= tb && a.id > b.id, `${o.key}: "${d}" but ${a.id} (${ta}) comes before ${b.id} (${tb})`);
        }
      }
    }
  });

  test('an invalid cursor or limit is refused with 400 naming the parameter', T, async () => {
    const wh = await newWebhook(main, site);
    const cases = [
      ['/v1/sites', main.operatorToken, 'Not-A-Site'],
      ['/v1/sites/{site}/tokens', main.operatorToken, 'wh_01JDR4Z3X8M0N5V6W7Y8Z9A0BC'],
      ['/v1/sites/{site}/webhooks', site.admin, 'garbage'],
      ['/v1/sites/{site}/webhooks/{id}/deliveries', site.admin, `dlv_${'!'.repeat(26)}`],
      ['/v1/sites/{site}/audit', site.admin, 'aud_0'],
    ];
    for (const [template, token, cursor] of cases) {
      for (const [name, query] of [['cursor', { cursor }], ['limit', { limit: '0' }]]) {
        const r = await call(main, token, 'GET', template, { params: { site: site.id, id: wh.id }, query, expect: 400 });
        assert.match(r.headers['content-type'], /^application\/problem\+json/);
        assert.ok(r.json.errors?.some((e) => e.field === name), `${template} ?${name}: errors name it: ${r.text}`);
      }
    }
  });
});

describe('sweeps: every operation, the errors every route can give', () => {
  let site;
  before(async () => { site = await newSite(main); });

  /** Path values that exist only as far as the site: ids are well formed but unknown. */
  function harmless(o, siteId = site.id) {
    const params = { site: siteId, did: MISSING.deliveries };
    params.id = o.path.includes('/tokens/') ? MISSING.tokens : MISSING.webhooks;
    // Bodies that change nothing: refused, or aimed at an unknown id.
    const rb = o.op.requestBody && contract.resolve(o.op.requestBody);
    const body = rb ? {} : undefined;
    return { params, body };
  }

  test('each role, no token and an unknown token on every operation: only documented answers', T, async () => {
    const tokens = [null, 'hkd_unknown', main.operatorToken, site.admin, site.publisher];
    for (const o of contract.operations) {
      for (const token of tokens) await call(main, token, o.method, o.path, harmless(o));
    }
    for (const o of contract.operations.filter((x) => x.secured)) {
      assert.ok(contract.seen.get(o.key).has('401'), `${o.key}: no token → 401`);
    }
  });

  test('oversized request headers: 431 problem on every operation', T, async () => {
    for (const o of contract.operations) {
      const r = await call(main, main.operatorToken, o.method, o.path, { ...harmless(o), headers: { 'x-filler': 'a'.repeat(64 * 1024) }, expect: 431 });
      assert.match(r.json.type, /^https:\/\/hookd\.dev\/problems\//);
      assert.ok(r.json.detail, 'a detail');
    }
  });

  test('a body over 1 MiB: 413 problem on every operation that takes a body', T, async () => {
    const filler = JSON.stringify({ description: 'd'.repeat(1024 * 1024 + 16) });
    for (const o of contract.operations.filter((x) => x.op.requestBody)) {
      const r = await call(main, main.operatorToken, o.method, o.path, { ...harmless(o), body: filler, expect: 413 });
      assert.ok(r.json.detail, 'a detail');
    }
  });

  test('over the request rate: 429 + Retry-After on every authenticated operation', T, async () => {
    const limited = new HookdServer({ extraArgs: ['--api-rate-limit', '1'] });
    cleanup.push(() => limited.dispose());
    await limited.start();
    for (const o of contract.operations.filter((x) => x.secured)) {
      let r;
      for (let i = 0; i < 20; i++) {
        r = await call(limited, limited.operatorToken, o.method, o.path, harmless(o, 'oa-no-such-site'));
        if (r.status === 429) break;
      }
      assert.equal(r.status, 429, `${o.key}: ${show(r)}`);
    }
    await limited.dispose();
  });

  test('another process holds the database write lock: 503 + Retry-After on every operation that writes', T, async (t) => {
    if (usePostgres()) {
      t.skip('the lock is taken with the sqlite3 shell: SQLite only');
      return;
    }
    const locked = new HookdServer({ extraArgs: ['--sqlite-busy-timeout', '300ms'] });
    cleanup.push(() => locked.dispose());
    await locked.start();
    const s = await newSite(locked);
    const spare = await call(locked, locked.operatorToken, 'POST', '/v1/sites/{site}/tokens', { params: { site: s.id }, body: { role: 'admin' }, expect: 201 });
    const wh = (await call(locked, s.admin, 'POST', '/v1/sites/{site}/webhooks', { params: { site: s.id }, body: { payloadUrl: rx.url('/locked'), secret: SECRET, events: ['CREATE'], sendEverything: true }, expect: 201 })).json;
    await call(locked, s.publisher, 'POST', '/v1/sites/{site}/events', { params: { site: s.id }, body: { event: 'CREATE', entity: 'Room', entityId: 1 }, expect: 202 });
    const d = await waitFor(async () => {
      const r = await call(locked, s.admin, 'GET', '/v1/sites/{site}/webhooks/{id}/deliveries', { params: { site: s.id, id: wh.id }, query: { state: 'succeeded' } });
      return r.json.data[0];
    }, 10000, { message: 'a delivery' });

    const shell = spawn('sqlite3', ['-bail', locked.dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    cleanup.push(() => shell.kill('SIGKILL'));
    let out = '';
    shell.stdout.on('data', (c) => { out += c; });
    shell.stdin.write(".timeout 5000\nBEGIN IMMEDIATE;\nINSERT INTO meta(key,value) VALUES('oa-lock','x');\nSELECT 'lock-held';\n");
    await waitFor(() => out.includes('lock-held'), 10000, { interval: 20, message: 'sqlite3 holds the write lock' });
    try {
      const params = { site: s.id, id: wh.id, did: d.id };
      const writes = [
        ['POST', '/v1/sites', {}, { id: 'oa-locked-site' }],
        ['POST', '/v1/sites/{site}/tokens', params, { role: 'admin' }],
        ['DELETE', '/v1/sites/{site}/tokens/{id}', { site: s.id, id: spare.json.id }],
        ['POST', '/v1/sites/{site}/webhooks', params, { payloadUrl: rx.url('/x'), events: ['CREATE'], sendEverything: true }],
        ['PATCH', '/v1/sites/{site}/webhooks/{id}', params, { description: 'x' }],
        ['POST', '/v1/sites/{site}/webhooks/{id}/test', params],
        ['POST', '/v1/sites/{site}/webhooks/{id}/rotate-secret', params, {}],
        ['POST', '/v1/sites/{site}/webhooks/{id}/replay', params, { since: since() }],
        ['POST', '/v1/sites/{site}/deliveries/{did}/retry', params],
        ['POST', '/v1/sites/{site}/webhooks/{id}/deliveries/{did}/retry', params],
        ['POST', '/v1/sites/{site}/events', params, { event: 'CREATE', entity: 'Room', entityId: 2 }],
        ['DELETE', '/v1/sites/{site}/webhooks/{id}', params],
      ];
      for (const [method, template, p, body] of writes) {
        const token = template.includes('/events') ? s.publisher : template.includes('/webhooks') || template.includes('/deliveries') ? s.admin : locked.operatorToken;
        const r = await call(locked, token, method, template, { params: p, body, expect: 503 });
        assert.match(r.headers['retry-after'] ?? '', /^\d+$/, `${method} ${template}: Retry-After`);
      }
    } finally {
      shell.stdin.end();
    }
    await locked.dispose();
  });
});

test('every operation of the document was exercised, with every status it documents', T, () => {
  const missing = [];
  for (const o of contract.operations) {
    const seen = contract.seen.get(o.key);
    if (![...seen].some((s) => s.startsWith('2'))) missing.push(`${o.key}: no success answer`);
    if (![...seen].some((s) => Number(s) >= 400)) missing.push(`${o.key}: no error answer`);
    for (const status of Object.keys(o.op.responses)) {
      if (!seen.has(status) && !notReproduced(o, status)) missing.push(`${o.key}: documented ${status} never seen`);
    }
  }
  assert.deepEqual(missing, []);
});

/** Why a documented status of `o` is not produced by this file, or null. */
function notReproduced(o, status) {
  if (status !== '503') return null;
  if (o.method === 'GET') return 'a read fails only when the database does not answer at all (PostgreSQL down)';
  if (o.key === 'POST /v1/sites/{site}/webhooks/{id}/check') {
    return 'the check only reads the webhook (its audit entry is best effort): 503 only when the database does not answer at all';
  }
  if (usePostgres()) return 'the write-lock sweep takes the lock with the sqlite3 shell: SQLite only';
  return null;
}
