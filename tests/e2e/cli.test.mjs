// Command line: sign / verify / --help / bad flags (SPEC.md §6, §9).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  TEST_VECTOR, freePort, legacySignature, makeTempDir, removeTempDir, runHookd, startServer,
} from './support.mjs';

const T = { timeout: 30000 };
let dir;
before(() => { dir = makeTempDir('hookd-cli'); });
after(() => removeTempDir(dir));

function fmt(r) {
  return `exit=${r.code} signal=${r.signal} stdout=${JSON.stringify(r.stdout.slice(0, 800))} stderr=${JSON.stringify(r.stderr.slice(0, 800))}`;
}

test('hookd sign prints the seed test vector', T, () => {
  const r = runHookd(['sign', '--secret', 'mySecret', 'CREATE', 'Agreement', '25'], { cwd: dir });
  assert.equal(r.code, 0, fmt(r));
  assert.ok(r.stdout.includes(TEST_VECTOR), `stdout has the vector: ${fmt(r)}`);
  assert.equal(r.stdout.trim().split('\n')[0].trim().split(/\s+/).pop(), TEST_VECTOR,
    `first line ends with the vector: ${fmt(r)}`);
});

test('hookd sign works for another event and a string id', T, () => {
  const r = runHookd(['sign', '--secret', 'other-secret', 'ARCHIVE', 'Room', 'r-1.b~c'], { cwd: dir });
  assert.equal(r.code, 0, fmt(r));
  assert.ok(r.stdout.includes(legacySignature('other-secret', 'ARCHIVE', 'Room', 'r-1.b~c')), fmt(r));
});

test('hookd verify: good signature exits 0, bad signature exits non-zero', T, () => {
  const good = runHookd(['verify', '--secret', 'mySecret', '--signature', TEST_VECTOR, 'CREATE', 'Agreement', '25'], { cwd: dir });
  assert.equal(good.code, 0, fmt(good));

  const flipped = TEST_VECTOR.slice(0, -1) + (TEST_VECTOR.endsWith('e') ? 'f' : 'e');
  const bad = runHookd(['verify', '--secret', 'mySecret', '--signature', flipped, 'CREATE', 'Agreement', '25'], { cwd: dir });
  assert.ok(bad.code !== 0 && bad.code !== null, `bad signature must fail: ${fmt(bad)}`);

  const wrongSecret = runHookd(['verify', '--secret', 'notMySecret', '--signature', TEST_VECTOR, 'CREATE', 'Agreement', '25'], { cwd: dir });
  assert.ok(wrongSecret.code !== 0 && wrongSecret.code !== null, `wrong secret must fail: ${fmt(wrongSecret)}`);

  const wrongId = runHookd(['verify', '--secret', 'mySecret', '--signature', TEST_VECTOR, 'CREATE', 'Agreement', '26'], { cwd: dir });
  assert.ok(wrongId.code !== 0 && wrongId.code !== null, `wrong id must fail: ${fmt(wrongId)}`);

  const garbage = runHookd(['verify', '--secret', 'mySecret', '--signature', 'not-hex', 'CREATE', 'Agreement', '25'], { cwd: dir });
  assert.ok(garbage.code !== 0 && garbage.code !== null, `garbage signature must fail: ${fmt(garbage)}`);
});

test('hookd --help exits 0 and lists the subcommands', T, () => {
  const r = runHookd(['--help'], { cwd: dir });
  assert.equal(r.code, 0, fmt(r));
  const out = r.stdout + r.stderr;
  for (const sub of ['serve', 'listen', 'sign', 'verify', 'migrate']) {
    assert.ok(out.includes(sub), `--help mentions ${sub}: ${fmt(r)}`);
  }
  const s = runHookd(['serve', '--help'], { cwd: dir });
  assert.equal(s.code, 0, fmt(s));
  const so = s.stdout + s.stderr;
  for (const flag of ['--listen', '--db', '--allow-private-network', '--retry-schedule']) {
    assert.ok(so.includes(flag), `serve --help mentions ${flag}: ${fmt(s)}`);
  }
});

test('unknown flag to serve exits non-zero with a one-line message on stderr', T, async () => {
  const port = await freePort();
  const r = runHookd(['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${path.join(dir, 'x.db')}`, '--no-such-flag'], {
    cwd: dir, timeoutMs: 8000, env: { HOOKD_OPERATOR_TOKEN: crypto.randomBytes(16).toString('hex') },
  });
  assert.equal(r.signal, null, `must exit by itself, not keep serving: ${fmt(r)}`);
  assert.ok(r.code !== 0 && r.code !== null, fmt(r));
  const lines = r.stderr.trim().split('\n').filter((l) => l.trim());
  assert.ok(lines.length >= 1, `stderr not empty: ${fmt(r)}`);
  assert.ok(r.stderr.includes('no-such-flag'), `message names the flag: ${fmt(r)}`);
  assert.equal(lines.length, 1, `exactly one line on stderr: ${fmt(r)}`);
});

test('bad values for serve flags fail at startup', T, async () => {
  const port = await freePort();
  const env = { HOOKD_OPERATOR_TOKEN: crypto.randomBytes(16).toString('hex') };
  const db = `sqlite:${path.join(dir, 'y.db')}`;
  for (const args of [
    ['--listen', `127.0.0.1:${port}`, '--db', db, '--retry-schedule', '0s,banana'],
    ['--listen', 'not-a-host-port', '--db', db],
    ['--listen', `127.0.0.1:${port}`, '--db', 'nosuchscheme:whatever'],
  ]) {
    const r = runHookd(['serve', ...args], { cwd: dir, timeoutMs: 8000, env });
    assert.equal(r.signal, null, `${args.join(' ')}: must exit by itself: ${fmt(r)}`);
    assert.ok(r.code !== 0 && r.code !== null, `${args.join(' ')}: ${fmt(r)}`);
    assert.ok(r.stderr.trim().length > 0, `${args.join(' ')}: says why on stderr: ${fmt(r)}`);
  }
});

test('a second server on the same SQLite file is refused with one line', T, async () => {
  const dbPath = path.join(dir, 'shared.db');
  const first = await startServer({ dbPath });
  try {
    const port = await freePort();
    const r = runHookd(['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${dbPath}`], {
      cwd: dir, timeoutMs: 8000, env: { HOOKD_OPERATOR_TOKEN: crypto.randomBytes(16).toString('hex') },
    });
    assert.equal(r.signal, null, `must exit by itself: ${fmt(r)}`);
    assert.ok(r.code !== 0 && r.code !== null, fmt(r));
    assert.match(r.stderr + r.stdout, /another hookd serve is using/, fmt(r));
  } finally {
    await first.dispose();
  }
  // Once the first one is gone, the file is free again.
  const again = await startServer({ dbPath });
  await again.dispose();
});

test('unknown subcommand exits non-zero', T, () => {
  const r = runHookd(['frobnicate'], { cwd: dir });
  assert.ok(r.code !== 0 && r.code !== null, fmt(r));
});

test('serve logs the CIDRs allowed despite the address guard', T, async () => {
  const server = await startServer({ env: { HOOKD_ALLOW_CIDRS: '10.1.0.0/16,192.168.7.0/24' } });
  try {
    const log = server.logTail(40);
    assert.match(log, /allowed despite the address guard \(--allow-cidr\): 10\.1\.0\.0\/16, 192\.168\.7\.0\/24/, log);
  } finally {
    await server.dispose();
  }
});
