// The alerting rules (ops/prometheus) and the Grafana dashboard (ops/grafana) against a
// running hookd: promtool checks and unit-tests the rules, every metric and label they
// and the dashboard use is in a real /metrics answer, and a real Prometheus scraping that
// hookd loads the rules and answers every dashboard query with data.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  REPO_ROOT, createWebhook, freePort, makeTempDir, publish, rawRequest, removeTempDir, setupSite, sleep,
  startReceiver, startServer, waitFor,
} from './support.mjs';

const T = { timeout: 120000 };
const RULES = path.join(REPO_ROOT, 'ops', 'prometheus', 'hookd-alerts.yml');
const RULE_TESTS = path.join(REPO_ROOT, 'ops', 'prometheus', 'hookd-alerts.test.yml');
const DASHBOARD = path.join(REPO_ROOT, 'ops', 'grafana', 'hookd.json');

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
const dashboardExprs = dashboard.panels.filter((p) => p.type !== 'row').flatMap((p) => p.targets.map((t) => t.expr));
const rulesText = fs.readFileSync(RULES, 'utf8');
// Alert expressions: `expr: ...` on one line, or `expr: |` and the lines indented below it.
const ruleExprs = [];
{
  const lines = rulesText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^(\s*)expr:\s*(.*)$/);
    if (!m) continue;
    if (m[2] !== '|') { ruleExprs.push(m[2]); continue; }
    const body = [];
    while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > m[1].length)) body.push(lines[++i]);
    ruleExprs.push(body.join('\n').trim());
  }
}

let server;
let receivers = [];
let dir;
let site;
let webhooks;
before(async () => {
  dir = makeTempDir('hookd-ops');
  receivers = await Promise.all([startReceiver({ status: 200 }), startReceiver({ status: 500 }), startReceiver({ status: 410 })]);
  server = await startServer({ retrySchedule: '0s,1s,1s' });
  site = await setupSite(server);
  const [ok, failing, gone] = receivers;
  webhooks = [
    await createWebhook(site, { payloadUrl: ok.url('/ok') }),
    await createWebhook(site, { payloadUrl: failing.url('/failing') }),
    await createWebhook(site, { payloadUrl: gone.url('/gone') }),
  ];
  await publish(site, [1, 2, 3].map((id) => ({ event: 'CREATE', entity: 'Agreement', entityId: id })));
  // Every kind of series exists: successes, failures by webhook, a 410 disable, a failed delivery.
  await waitFor(() => receivers[0].requests.length >= 3 && receivers[1].requests.length >= 9 && receivers[2].requests.length >= 1,
    15000, { message: 'attempts to every receiver' });
});
after(async () => {
  await server?.dispose();
  for (const r of receivers) await r.close();
  removeTempDir(dir);
});

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000, ...opts });
  if (r.error?.code === 'ENOENT') assert.fail(`${cmd} is not installed (scripts/deps.sh --test installs it)`);
  return r;
}

/** Sample names and label pairs of a Prometheus text exposition. */
function parseExposition(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(m, `a sample line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

test('promtool: the alerting rules are valid and their unit tests pass', T, () => {
  const check = run('promtool', ['check', 'rules', RULES]);
  assert.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  assert.match(check.stdout, /SUCCESS: \d+ rules found/);
  const unit = run('promtool', ['test', 'rules', path.basename(RULE_TESTS)], { cwd: path.dirname(RULE_TESTS) });
  assert.equal(unit.status, 0, `promtool test rules: ${unit.stdout}${unit.stderr}`);
  assert.match(unit.stdout, /SUCCESS/);
  // Every alert has a unit test that makes it fire.
  const alerts = [...rulesText.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  const tested = fs.readFileSync(RULE_TESTS, 'utf8');
  for (const a of ['HookdWebhookAutoDisabled', 'HookdAttemptFailureRatioHigh', 'HookdDeliveriesFailing', 'HookdDeliveryLagHigh',
    'HookdQueueGrowing', 'HookdStoreUnavailable', 'HookdNotDelivering', 'HookdDown', 'HookdCaptureNotStreaming',
    'HookdCaptureLagHigh']) {
    assert.ok(alerts.includes(a), `alert ${a} exists`);
    assert.match(tested, new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `a test where ${a} fires`);
  }
});

test('the dashboard is a well-formed Grafana dashboard', T, () => {
  assert.equal(dashboard.uid, 'hookd-overview');
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const vars = dashboard.templating.list.map((v) => v.name);
  assert.deepEqual(vars, ['datasource', 'job', 'instance']);
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24 columns`);
    if (p.type === 'row') continue;
    assert.ok(['timeseries', 'stat', 'table'].includes(p.type), `${p.title}: panel type ${p.type}`);
    assert.equal(p.datasource.uid, '${datasource}', `${p.title} uses the datasource variable`);
    assert.ok(p.targets.length > 0, `${p.title} has a query`);
    for (const t of p.targets) {
      for (const v of t.expr.match(/\$\w+/g) ?? []) assert.ok(['$job', '$instance', '$__rate_interval'].includes(v), `${p.title}: unknown variable ${v}`);
    }
  }
  for (const want of ['Success ratio', 'Attempt latency', 'Pending deliveries', 'In flight by node', 'Failed attempts by webhook (top 10)', 'Events and deliveries']) {
    assert.ok(dashboard.panels.some((p) => p.title === want), `panel ${want}`);
  }
});

test('every metric and label the rules and the dashboard use is in a running hookd\'s /metrics', T, async () => {
  const r = await rawRequest(server.baseUrl, 'GET', '/metrics');
  assert.equal(r.status, 200);
  const samples = parseExposition(r.text);
  const names = new Set(samples.map((s) => s.name));
  const used = new Set();
  for (const e of [...ruleExprs, ...dashboardExprs]) for (const m of e.matchAll(/\bhookd_[a-z0-9_]+\b/g)) used.add(m[0]);
  assert.ok(used.size >= 10, `metrics used: ${[...used]}`);
  for (const m of used) assert.ok(names.has(m), `${m} (used by the rules or the dashboard) is exported; /metrics has: ${[...names].join(', ')}`);
  // Label matchers with a fixed value name a series that exists.
  for (const e of [...ruleExprs, ...dashboardExprs]) {
    for (const [, name, matchers] of e.matchAll(/\b(hookd_[a-z0-9_]+)\{([^}]*)\}/g)) {
      for (const [, k, v] of matchers.matchAll(/(\w+)="([^"]*)"/g)) {
        assert.ok(samples.some((s) => s.name === name && s.labels[k] === v), `${name}{${k}="${v}"} exists`);
      }
    }
    // Labels an expression groups by are on the metrics (job and instance come from the scrape).
    for (const [, list] of e.matchAll(/\bby \(([^)]*)\)/g)) {
      for (const label of list.split(',').map((x) => x.trim())) {
        if (['job', 'instance'].includes(label)) continue;
        assert.ok(samples.some((s) => label in s.labels), `some series has the label ${label} (${e})`);
      }
    }
  }
  // The per-webhook series name the failing webhooks, and the 410 counted its disable.
  const failing = samples.filter((s) => s.name === 'hookd_webhook_attempt_failures_total');
  assert.deepEqual(failing.map((s) => s.labels.webhook).sort(), [webhooks[1].id, webhooks[2].id].sort());
  assert.ok(failing.every((s) => s.labels.site === site.siteId));
  assert.ok(samples.find((s) => s.name === 'hookd_webhooks_disabled_total' && s.labels.reason === 'gone').value >= 1);
  assert.equal(samples.find((s) => s.name === 'hookd_store_up').value, 1);
  // Without --capture the capture rules see a node that is not configured (no alert), not a stalled one.
  for (const m of ['hookd_capture_configured', 'hookd_capture_streaming', 'hookd_capture_lag_bytes', 'hookd_capture_lag_seconds']) {
    assert.equal(samples.find((s) => s.name === m)?.value, 0, `${m} is 0 without --capture`);
  }
});

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(new Error(`${url}: ${body.slice(0, 300)}`)); } });
    }).on('error', reject);
  });
}

test('a real Prometheus scraping hookd loads the rules and answers every dashboard query with data', T, async () => {
  const promDir = path.join(dir, 'prometheus');
  fs.mkdirSync(promDir);
  const port = await freePort();
  fs.writeFileSync(path.join(promDir, 'prometheus.yml'), [
    'global: {scrape_interval: 1s, evaluation_interval: 1s}',
    `rule_files: ["${RULES}"]`,
    'scrape_configs:',
    '  - job_name: hookd',
    `    static_configs: [{targets: ["127.0.0.1:${server.port}"]}]`,
    '',
  ].join('\n'));
  const log = fs.openSync(path.join(promDir, 'log'), 'a');
  const prom = spawn('prometheus', [
    `--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise((resolve) => prom.on('exit', resolve));
  try {
    const base = `http://127.0.0.1:${port}`;
    const query = (q) => getJson(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
    await waitFor(async () => (await query('count(hookd_build_info)')).data?.result?.length === 1, 20000,
      { message: 'Prometheus scraped hookd', describe: () => fs.readFileSync(path.join(promDir, 'log'), 'utf8').slice(-2000) });
    // More traffic while Prometheus watches, so rates over the last seconds are not empty.
    for (let i = 0; i < 6; i++) {
      await publish(site, { event: 'UPDATE', entity: 'Room', entityId: `r-${i}` });
      await sleep(1000);
    }
    const rules = await getJson(`${base}/api/v1/rules`);
    const group = rules.data.groups.find((g) => g.name === 'hookd');
    assert.ok(group, 'the rule group is loaded');
    for (const rule of group.rules) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
    for (const e of ruleExprs) {
      const res = await query(e);
      assert.equal(res.status, 'success', `${e}: ${res.error}`);
    }
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      for (const t of p.targets) {
        const q = t.expr.replaceAll('$__rate_interval', '4s').replaceAll('$job', '.*').replaceAll('$instance', '.*');
        const res = await query(q);
        assert.equal(res.status, 'success', `${p.title}: ${q}: ${res.error}`);
        assert.ok(res.data.result.length > 0, `${p.title}: ${q} returns data`);
      }
    }
  } finally {
    prom.kill('SIGTERM');
    await exited;
  }
});

test('hookd_oldest_unattempted_age_seconds: the oldest delivery waiting for its first attempt, enabled webhooks only', T, async () => {
  const hang = await startReceiver({ hang: true });
  receivers.push(hang);
  const other = await setupSite(server);
  const wh = await createWebhook(other, { payloadUrl: hang.url('/hang'), maxInFlight: 1, timeoutMs: 30000 });
  const gauge = async (name) => {
    const r = await rawRequest(server.baseUrl, 'GET', '/metrics');
    return parseExposition(r.text).find((s) => s.name === name).value;
  };
  await publish(other, [1, 2, 3].map((id) => ({ event: 'CREATE', entity: 'Room', entityId: id })));
  // The first is in flight (the receiver never answers); the other two wait behind maxInFlight 1.
  await waitFor(() => hang.requests.length === 1, 5000, { message: 'the first attempt' });
  await sleep(1500);
  const age = await gauge('hookd_oldest_unattempted_age_seconds');
  assert.ok(age >= 1.4 && age < 30, `the two waiting deliveries are ${age} s old`);
  assert.ok(await gauge('hookd_queue_depth') >= 3);
  // A disabled webhook's deliveries wait by design: they do not count.
  const p = await other.admin.patch(`/v1/sites/${other.siteId}/webhooks/${wh.id}`, { enabled: false });
  assert.equal(p.status, 200);
  assert.equal(await gauge('hookd_oldest_unattempted_age_seconds'), 0);
  await hang.close();
});
