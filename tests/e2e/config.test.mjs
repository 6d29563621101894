// Configuration file (issue 12, point 6): `hookd serve --config FILE` reads `key = value`
// lines whose keys are the long flag names. Precedence, later winning: defaults, the
// file, HOOKD_* environment variables, flags. An unknown key, a missing file or a bad
// value stops the start with one line on stderr. `migrate` and `rekey` read the same file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  ApiClient, HOOKD_BIN, createWebhook, freePort, listDeliveries, makeTempDir, publish, rawRequest, removeTempDir,
  runHookd, setupSite, sleep, startReceiver, waitFor,
} from './support.mjs';

const T = { timeout: 30000 };
const operatorToken = `op_${crypto.randomBytes(16).toString('hex')}`;
let dir;
const cleanup = [];
before(() => { dir = makeTempDir('hookd-config'); });
after(async () => {
  for (const f of cleanup.reverse()) { try { await f(); } catch { /* best effort */ } }
  removeTempDir(dir);
});

function fmt(r) {
  return `exit=${r.code} signal=${r.signal} stdout=${JSON.stringify(r.stdout.slice(0, 800))} stderr=${JSON.stringify(r.stderr.slice(0, 800))}`;
}

function writeConfig(name, lines) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** True when something answers GET /healthz on 127.0.0.1:port. */
async function answers(port) {
  try {
    return (await rawRequest(`http://127.0.0.1:${port}`, 'GET', '/healthz', { timeoutMs: 1000 })).status === 200;
  } catch {
    return false;
  }
}

/**
 * Runs `hookd serve ARGS` (cwd: the test's temp dir) and waits until it answers on
 * `port`. Returns {api(token), operatorToken, stop()}: enough for setupSite().
 */
async function serve(args, { port, env = {} }) {
  const log = path.join(dir, `serve-${port}.log`);
  const fd = fs.openSync(log, 'a');
  const proc = spawn(HOOKD_BIN, ['serve', ...args], {
    cwd: dir, env: { ...process.env, HOOKD_OPERATOR_TOKEN: operatorToken, ...env }, stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  let exited = null;
  const exit = new Promise((resolve) => proc.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
  const stop = async () => {
    if (!exited) proc.kill('SIGTERM');
    const t = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, 5000);
    await exit;
    clearTimeout(t);
  };
  cleanup.push(stop);
  const deadline = Date.now() + 10000;
  while (!(await answers(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`hookd serve ${args.join(' ')} did not answer on port ${port} ` +
        `(${JSON.stringify(exited)}); log:\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
    }
    await sleep(100);
  }
  return { operatorToken, api: (token = operatorToken) => new ApiClient(`http://127.0.0.1:${port}`, token), stop };
}

/** `hookd serve ARGS` that must stop at startup: returns the result after checking it exited by itself. */
async function serveFails(args, env = {}) {
  const r = runHookd(['serve', ...args], { cwd: dir, timeoutMs: 8000, env: { HOOKD_OPERATOR_TOKEN: operatorToken, ...env } });
  assert.equal(r.signal, null, `must exit by itself, not keep serving: ${fmt(r)}`);
  assert.ok(r.code !== 0 && r.code !== null, `must fail: ${fmt(r)}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 1, `exactly one line on stderr: ${fmt(r)}`);
  return { ...r, line: lines[0] };
}

test('serve takes listen, db, retry-schedule and a boolean flag from the config file', T, async () => {
  const port = await freePort();
  const dbPath = path.join(dir, 'from-file.db');
  const file = writeConfig('serve.conf', [
    '# hookd test configuration',
    '',
    `listen = 127.0.0.1:${port}`,
    `db = "sqlite:${dbPath}"`,
    '   # two attempts, one second apart',
    'retry-schedule = 0s,1s',
    'allow-private-network = true',
  ]);
  const server = await serve(['--config', file], { port });
  assert.ok(fs.existsSync(dbPath), 'the database is where the file says');

  // Two attempts (not the default eleven) against a receiver that always fails; the
  // loopback receiver is allowed because the file says allow-private-network = true.
  const rx = await startReceiver({ status: 500 });
  cleanup.push(() => rx.close());
  const site = await setupSite(server);
  const hook = await createWebhook(site, { payloadUrl: rx.url() });
  await publish(site, { event: 'CREATE', entity: 'Agreement', entityId: 25 });
  const [failed] = await waitFor(async () => {
    const d = await listDeliveries(site, hook.id, { state: 'failed' });
    return d.length ? d : null;
  }, 15000, { message: 'the delivery to fail', describe: async () => JSON.stringify(await listDeliveries(site, hook.id)) });
  assert.equal(failed.attemptCount, 2, `retry-schedule from the file: ${JSON.stringify(failed)}`);
  assert.equal(rx.requests.length, 2);
  await server.stop();
});

test('precedence: a flag beats the file, HOOKD_* beats the file, a flag beats HOOKD_*', T, async () => {
  const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
  const db = `sqlite:${path.join(dir, 'precedence.db')}`;
  const file = writeConfig('precedence.conf', [`listen = 127.0.0.1:${filePort}`, `db = ${db}`]);

  let s = await serve(['--config', file], { port: filePort });
  await s.stop();

  s = await serve(['--config', file, '--listen', `127.0.0.1:${flagPort}`], { port: flagPort });
  assert.equal(await answers(filePort), false, 'the flag replaced the file value');
  await s.stop();

  s = await serve(['--config', file], { port: envPort, env: { HOOKD_LISTEN: `127.0.0.1:${envPort}` } });
  assert.equal(await answers(filePort), false, 'the environment replaced the file value');
  await s.stop();

  s = await serve(['--config', file, '--listen', `127.0.0.1:${flagPort}`], {
    port: flagPort, env: { HOOKD_LISTEN: `127.0.0.1:${envPort}` },
  });
  assert.equal(await answers(envPort), false, 'the flag replaced the environment value');
  assert.equal(await answers(filePort), false);
  await s.stop();
});

test('an unknown key, a missing file, a malformed line or a bad value stop serve with one line', T, async () => {
  const port = await freePort();
  const db = `sqlite:${path.join(dir, 'bad.db')}`;

  const unknown = writeConfig('unknown.conf', [`listen = 127.0.0.1:${port}`, `db = ${db}`, 'retry-shedule = 0s,1s']);
  let r = await serveFails(['--config', unknown]);
  assert.match(r.line, /retry-shedule/, `names the key: ${r.line}`);
  assert.match(r.line, /unknown\.conf/, `names the file: ${r.line}`);
  assert.match(r.line, /line 3/, `names the line: ${r.line}`);

  const missing = path.join(dir, 'no-such.conf');
  r = await serveFails(['--config', missing, '--listen', `127.0.0.1:${port}`, '--db', db]);
  assert.ok(r.line.includes(missing), `names the file: ${r.line}`);

  const malformed = writeConfig('malformed.conf', [`listen = 127.0.0.1:${port}`, 'just some words']);
  r = await serveFails(['--config', malformed, '--db', db]);
  assert.match(r.line, /malformed\.conf.*line 2/, `names the file and line: ${r.line}`);

  const badSchedule = writeConfig('bad-schedule.conf', [`listen = 127.0.0.1:${port}`, `db = ${db}`, 'retry-schedule = 0s,banana']);
  r = await serveFails(['--config', badSchedule]);
  assert.match(r.line, /retry-schedule/, `names the key: ${r.line}`);
  assert.match(r.line, /bad-schedule\.conf/, `says the value came from the file: ${r.line}`);

  const badNumber = writeConfig('bad-number.conf', [`listen = 127.0.0.1:${port}`, `db = ${db}`, 'max-in-flight = lots']);
  r = await serveFails(['--config', badNumber]);
  assert.match(r.line, /max-in-flight/, `names the key: ${r.line}`);

  const twice = writeConfig('twice.conf', [`listen = 127.0.0.1:${port}`, `db = ${db}`, `listen = 127.0.0.1:${port}`]);
  r = await serveFails(['--config', twice]);
  assert.match(r.line, /listen/, `names the key: ${r.line}`);
  assert.match(r.line, /line 3/, `names the second line: ${r.line}`);

  // A flag given on the command line does not excuse a bad line in the file.
  r = await serveFails(['--config', unknown, '--listen', `127.0.0.1:${port}`]);
  assert.match(r.line, /retry-shedule/, r.line);
});

test('migrate and rekey read the same file; keys only serve knows are skipped there', T, async () => {
  const dbPath = path.join(dir, 'tools.db');
  const keyFile = path.join(dir, 'tools-master.key');
  fs.writeFileSync(keyFile, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const file = writeConfig('tools.conf', [
    'listen = 127.0.0.1:1',  // a serve key: migrate and rekey skip it
    'retry-schedule = 0s',
    `db = sqlite:${dbPath}`,
    `master-key-file = ${keyFile}`,
  ]);
  let r = runHookd(['migrate', '--config', file], { cwd: dir });
  assert.equal(r.code, 0, fmt(r));
  assert.ok(fs.existsSync(dbPath), `migrate used the file's db: ${fmt(r)}`);

  const newKey = path.join(dir, 'tools-new.key');
  r = runHookd(['rekey', '--config', file, '--new-key-file', newKey], { cwd: dir });
  assert.equal(r.code, 0, fmt(r));
  assert.ok(r.stdout.includes(dbPath), `rekey used the file's db: ${fmt(r)}`);
  // The database now opens with the new key only: rekey used the file's master-key-file.
  r = runHookd(['rekey', '--config', file, '--new-key-file', path.join(dir, 'tools-third.key')], { cwd: dir });
  assert.notEqual(r.code, 0, fmt(r));
  assert.match(r.stderr, /master key does not match/, fmt(r));

  const bad = writeConfig('tools-bad.conf', [`db = sqlite:${dbPath}`, 'no-such-key = 1']);
  for (const cmd of [['migrate'], ['rekey', '--new-key-file', newKey]]) {
    r = runHookd([cmd[0], '--config', bad, ...cmd.slice(1)], { cwd: dir });
    assert.ok(r.code !== 0 && r.code !== null, `${cmd[0]}: ${fmt(r)}`);
    const lines = r.stderr.split('\n').filter((l) => l.trim());
    assert.equal(lines.length, 1, `${cmd[0]}: one line: ${fmt(r)}`);
    assert.match(lines[0], /no-such-key/, `${cmd[0]}: names the key: ${fmt(r)}`);
  }
});
