// Outbound TLS (SPEC.md §7, issue 4 point 5): hookd verifies receivers' certificates
// against --ca-file. The CA and the certificates are made with the openssl CLI during
// the test; the receivers are real Node HTTPS servers on 127.0.0.1.
//
// hookd runs with --allow-private-network (the receivers are on loopback) and
// --retry-schedule 0s (one attempt, so a failure is final at once).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  TEST_VECTOR, createWebhook, getDelivery, listDeliveries, makeTempDir, publish, removeTempDir, setupSite,
  show, startReceiver, startServer, waitFor,
} from './support.mjs';

const T = { timeout: 60000 };

let dir;
let pki;
let server;
const receivers = [];

function openssl(args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

function writeConfig(name, cn, extensions) {
  const file = path.join(dir, `${name}.cnf`);
  fs.writeFileSync(file, [
    '[req]', 'distinguished_name = dn', 'prompt = no',
    '[dn]', `CN = ${cn}`,
    '[ext]', ...extensions, '',
  ].join('\n'));
  return file;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const LEAF = ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature',
  'extendedKeyUsage = serverAuth'];

/** A key and a certificate for `cn` / `san`, signed by the test CA. */
function issue(name, cn, san) {
  const cnf = writeConfig(name, cn, [...LEAF, `subjectAltName = ${san}`, 'authorityKeyIdentifier = keyid']);
  openssl(['req', '-new', '-config', cnf, ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '2',
    '-extfile', cnf, '-extensions', 'ext', '-out', `${name}.pem`]);
  return { key: fs.readFileSync(path.join(dir, `${name}.key`)), cert: fs.readFileSync(path.join(dir, `${name}.pem`)) };
}

/** A self-signed key and certificate: valid names, but no CA hookd knows vouches for it. */
function selfSigned(name, cn, san) {
  const cnf = writeConfig(name, cn, [...LEAF, `subjectAltName = ${san}`]);
  openssl(['req', '-x509', '-config', cnf, '-extensions', 'ext', ...EC, '-days', '2',
    '-keyout', `${name}.key`, '-out', `${name}.pem`]);
  return { key: fs.readFileSync(path.join(dir, `${name}.key`)), cert: fs.readFileSync(path.join(dir, `${name}.pem`)) };
}

function makePki() {
  const caCnf = writeConfig('ca', 'hookd e2e test CA', [
    'basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
  ]);
  openssl(['req', '-x509', '-config', caCnf, '-extensions', 'ext', ...EC, '-days', '2',
    '-keyout', 'ca.key', '-out', 'ca.pem']);
  return {
    caFile: path.join(dir, 'ca.pem'),
    trusted: issue('server', 'localhost', 'IP:127.0.0.1, DNS:localhost'),
    wrongName: issue('other', 'other.example', 'DNS:other.example'),
    untrusted: selfSigned('self', 'localhost', 'IP:127.0.0.1, DNS:localhost'),
  };
}

async function receiver(spec, tls) {
  const r = await startReceiver(spec, { tls });
  receivers.push(r);
  return r;
}

/**
 * Publishes one event to a new webhook at `url` (on a new site, so earlier tests'
 * webhooks get nothing) and waits for its delivery to be final.
 */
async function deliverOnce(url, entityId) {
  const site = await setupSite(server);
  const wh = await createWebhook(site, { payloadUrl: url, events: ['CREATE'], sendEverything: true });
  await publish(site, { event: 'CREATE', entity: 'Agreement', entityId });
  const [d] = await waitFor(async () => {
    const list = await listDeliveries(site, wh.id);
    return list.length === 1 && list[0].state !== 'pending' ? list : null;
  }, 20000, {
    message: `the delivery to ${url} to finish`,
    describe: async () => JSON.stringify(await listDeliveries(site, wh.id)),
  });
  return { site, webhook: wh, delivery: await getDelivery(site, d.id) };
}

before(async () => {
  dir = makeTempDir('hookd-tls');
  pki = makePki();
  server = await startServer({ retrySchedule: '0s', extraArgs: ['--ca-file', pki.caFile] });
});

after(async () => {
  for (const r of receivers) await r.close();
  if (server) await server.dispose();
  removeTempDir(dir);
});

describe('outbound TLS with --ca-file', () => {
  test('a receiver whose certificate the CA signed gets the delivery (200, succeeded)', T, async () => {
    const rx = await receiver({ status: 200, body: 'ok over tls' }, pki.trusted);
    const url = rx.url('/hook');
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/hook$/);
    const { delivery } = await deliverOnce(url, 25);
    assert.equal(delivery.state, 'succeeded', JSON.stringify(delivery));
    assert.equal(delivery.lastStatus, 200);
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0].status, 200);
    assert.equal(delivery.attempts[0].error, null);
    assert.equal(delivery.attempts[0].responseSnippet, 'ok over tls');
    assert.equal(rx.requests.length, 1);
    assert.equal(rx.requests[0].text, '{"event":"CREATE","entity":"Agreement","entityId":25}');
    assert.equal(rx.requests[0].headers['x-ioffice-signature'], TEST_VECTOR);
  });

  test('the host name is checked too: https://localhost works with DNS:localhost in the certificate', T, async () => {
    const rx = await receiver({ status: 200 }, pki.trusted);
    const { delivery } = await deliverOnce(rx.url('/hook', 'localhost'), 26);
    assert.equal(delivery.state, 'succeeded', JSON.stringify(delivery));
    assert.equal(delivery.attempts[0].status, 200);
  });

  test('a CA-signed certificate for another name fails with error "tls"', T, async () => {
    const rx = await receiver({ status: 200 }, pki.wrongName);
    const { delivery } = await deliverOnce(rx.url('/hook'), 27);
    assert.equal(delivery.state, 'failed', JSON.stringify(delivery));
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0].error, 'tls');
    assert.equal(delivery.attempts[0].status, null);
    assert.equal(delivery.lastError, 'tls');
    assert.equal(rx.requests.length, 0, 'no HTTP request may reach a receiver that failed verification');
  });

  test('a self-signed certificate not signed by the CA fails with error "tls" and status null', T, async () => {
    const rx = await receiver({ status: 200 }, pki.untrusted);
    const { site, delivery } = await deliverOnce(rx.url('/hook'), 28);
    assert.equal(delivery.state, 'failed', JSON.stringify(delivery));
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0].error, 'tls');
    assert.equal(delivery.attempts[0].status, null);
    assert.equal(delivery.lastStatus, null);
    assert.equal(delivery.lastError, 'tls');
    assert.equal(rx.requests.length, 0, 'nothing was sent to the untrusted receiver');
    assert.ok(rx.tlsErrors >= 1, 'the receiver saw hookd abort the handshake');

    // A test message reports the same at once.
    const wh = await createWebhook(site, { payloadUrl: rx.url('/hook'), events: ['CREATE'], sendEverything: true });
    const res = await site.admin.post(`/v1/sites/${site.siteId}/webhooks/${wh.id}/test`, {});
    assert.equal(res.status, 200, show(res));
    assert.equal(res.json.error, 'tls');
    assert.equal(res.json.status, null);
  });

  test('a plain http:// receiver still works on the same server', T, async () => {
    const rx = await receiver({ status: 200, body: 'plain' });
    const url = rx.url('/hook');
    assert.match(url, /^http:\/\//);
    const { delivery } = await deliverOnce(url, 29);
    assert.equal(delivery.state, 'succeeded', JSON.stringify(delivery));
    assert.equal(delivery.attempts[0].status, 200);
    assert.equal(delivery.attempts[0].responseSnippet, 'plain');
    assert.equal(rx.requests.length, 1);
  });
});
