// The configuration file the Debian package ships (packaging/hookd.conf → /etc/hookd/hookd.conf)
// checked against the binary: it names every `hookd serve` flag, no other key, and hookd
// accepts it both as shipped and with every example uncommented. The package itself is
// tested on a fresh Debian 12 by tests/package/package_test.sh.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT, makeTempDir, rawRequest, removeTempDir, runHookd, startServer } from './support.mjs';

const T = { timeout: 60000 };
const CONF = path.join(REPO_ROOT, 'packaging', 'hookd.conf');
const conf = fs.readFileSync(CONF, 'utf8');
const dirs = [];
after(() => { for (const d of dirs) removeTempDir(d); });

/** serve's long flags, from its own --help. */
function serveFlags() {
  const r = runHookd(['serve', '--help']);
  assert.equal(r.code, 0, r.stderr);
  return [...r.stdout.matchAll(/^\s+(?:-\w,)?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]).filter((f) => f !== 'help' && f !== 'config');
}

/** key = value settings: active lines, and `# key = value` examples. */
function settings(text) {
  const active = [];
  const examples = [];
  for (const line of text.split('\n')) {
    let m = line.match(/^([a-z][a-z0-9-]*)\s*=\s*(.*)$/);
    if (m) { active.push([m[1], m[2]]); continue; }
    m = line.match(/^#\s?([a-z][a-z0-9-]*)\s*=\s*(.*)$/);
    if (m) examples.push([m[1], m[2]]);
  }
  return { active, examples };
}

test('hookd.conf names every serve flag, and nothing else', T, () => {
  const flags = serveFlags();
  assert.ok(flags.length >= 25, `serve has its flags: ${flags}`);
  const { active, examples } = settings(conf);
  const keys = [...active, ...examples].map(([k]) => k);
  for (const f of flags) assert.ok(keys.includes(f), `hookd.conf shows --${f}`);
  for (const k of keys) assert.ok(flags.includes(k), `hookd.conf key ${k} is a serve flag`);
  assert.equal(new Set(keys).size, keys.length, 'each key once');
  assert.deepEqual(Object.fromEntries(active), {
    listen: '127.0.0.1:8080', db: 'sqlite:/var/lib/hookd/hookd.db', 'master-key-file': '/etc/hookd/master.key',
  }, 'SQLite in /var/lib/hookd, loopback :8080, the key the package makes');
});

test('hookd starts with hookd.conf as shipped, and with every example uncommented', T, async () => {
  const dir = makeTempDir('hookd-packaging');
  dirs.push(dir);
  // The shipped paths are redirected by HOOKD_* variables, which win over the file.
  fs.writeFileSync(path.join(dir, 'master.key'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'op.token'), 'op-token-from-file\n', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'catalog.json'), JSON.stringify({ entities: [{ name: 'Agreement' }, { name: 'Room' }] }));
  const env = { HOOKD_MASTER_KEY_FILE: path.join(dir, 'master.key'), HOOKD_OPERATOR_TOKEN: '' };

  const shipped = path.join(dir, 'shipped.conf');
  fs.writeFileSync(shipped, conf);
  let srv = await startServer({ dir, extraArgs: ['--config', shipped], env, allowPrivateNetwork: false, retrySchedule: null });
  assert.equal((await rawRequest(srv.baseUrl, 'GET', '/readyz')).status, 200);
  await srv.dispose();

  // Every example on: the keys exist and their example values are valid (paths that
  // only exist on an installed system are pointed at files here).
  fs.writeFileSync(path.join(dir, 'capture-map.json'), JSON.stringify({
    tables: [{ table: 'public.rooms', entity: 'Room', id: 'id', siteId: 'acme' }],
  }));
  const local = {
    'operator-token-file': path.join(dir, 'op.token'),
    catalog: path.join(dir, 'catalog.json'),
    'capture-map': path.join(dir, 'capture-map.json'),
    // A source that refuses at once: capture keeps retrying (state "error"), serve serves.
    capture: 'postgresql://nobody@127.0.0.1:1/platform',
  };
  const all = conf.split('\n').map((line) => {
    const m = line.match(/^#\s?([a-z][a-z0-9-]*)(\s*=\s*)(.*)$/);
    if (!m) return line;
    return `${m[1]}${m[2]}${local[m[1]] ?? m[3]}`;
  }).join('\n');
  const full = path.join(dir, 'all.conf');
  fs.writeFileSync(full, all);
  srv = await startServer({ dir, extraArgs: ['--config', full], env, allowPrivateNetwork: false, retrySchedule: null });
  const me = await srv.api('op-token-from-file').get('/v1/me');
  assert.equal(me.status, 200, 'the operator token came from operator-token-file');
  assert.equal((await rawRequest(srv.baseUrl, 'GET', '/metrics')).status, 401, 'metrics-token applies');
  await srv.dispose();
});
