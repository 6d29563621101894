// hookd admin page: sign in with an admin token, manage the site's webhooks,
// inspect their deliveries, check their receivers and see their health.
// Plain JavaScript, no dependencies; charts are inline SVG.
//
// Rule: data from the server is only ever put into the page as text
// (textContent / text nodes / attribute values), never parsed as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'hookd.adminToken';
  const EVENT_ORDER = ['CREATE', 'UPDATE', 'DELETE', 'ARCHIVE'];
  const EVENT_LABELS = { CREATE: 'Create', UPDATE: 'Update', DELETE: 'Delete', ARCHIVE: 'Archive' };
  const STATE_LABELS = { pending: 'Pending', succeeded: 'Succeeded', failed: 'Failed', cancelled: 'Cancelled' };
  const STATE_BADGE = { pending: 'badge-info', succeeded: 'badge-ok', failed: 'badge-bad', cancelled: '' };
  const ERROR_LABELS = {
    timeout: 'Timed out',
    connect: 'Connection failed',
    dns: 'DNS lookup failed',
    tls: 'TLS error',
    blocked: 'Blocked address',
    too_large: 'Response too large',
    http: 'HTTP error',
    other: 'Error',
  };
  const DEFAULTS = { timeoutMs: 15000, maxInFlight: 8, rateLimitPerSecond: null, ordering: 'none' };
  const STATS_WINDOW = 50;
  const LOG_PAGE = 20;
  const TICK_MS = 3000;

  const app = {
    token: null,
    site: null,
    catalog: null,        // {events, entities:[{name, description}]}
    catalogPromise: null,
    cards: new Map(),     // webhook id -> HookCard
    editing: null,        // webhook being edited, or null when creating
    tick: 0,
    timer: null,
    listLoaded: false,
    listBusy: false,
    healthLoaded: false,
    healthBusy: false,
    operator: false,      // signed in with the operator token: the service status view
    captureBusy: false,
  };

  // ---------------------------------------------------------------- helpers

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** Builds an element. String children become text nodes (never HTML). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  let uid = 0;
  const nextId = (prefix) => `${prefix}-${++uid}`;

  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : dateFmt.format(d);
  }
  function timeEl(iso) {
    return h('time', { datetime: iso || null, title: iso || null }, fmtTime(iso));
  }
  function relTime(iso) {
    const t = new Date(iso).getTime();
    if (Number.isNaN(t)) return '';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 10) return 'just now';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }
  function resultText(status, error) {
    const parts = [];
    if (status !== null && status !== undefined) parts.push(`HTTP ${status}`);
    if (error && !(error === 'http' && parts.length)) parts.push(ERROR_LABELS[error] || String(error));
    return parts.length ? parts.join(' · ') : '—';
  }
  function isOk(status) {
    return typeof status === 'number' && status >= 200 && status < 300;
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }
  function fmtEntityId(v) {
    return v === null || v === undefined ? '' : String(v);
  }
  function eventsText(events) {
    const set = new Set((events || []).map((e) => String(e).toUpperCase()));
    const known = EVENT_ORDER.filter((e) => set.has(e)).map((e) => EVENT_LABELS[e]);
    const other = [...set].filter((e) => !EVENT_LABELS[e]);
    return [...known, ...other].join(', ') || '—';
  }
  function generateSecret() {
    const bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return 'whsec_' + btoa(bin);
  }
  function isMasked(secret) {
    return !secret || /^\*+$/.test(secret);
  }
  function setBusy(btn, busy) {
    if (!btn) return;
    btn.disabled = busy;
    btn.classList.toggle('is-busy', busy);
    if (busy) btn.setAttribute('aria-busy', 'true');
    else btn.removeAttribute('aria-busy');
  }
  async function copyText(text, input) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      if (input) {
        input.focus();
        input.select();
        try { return document.execCommand('copy'); } catch { return false; }
      }
      return false;
    }
  }

  let toastTimer = null;
  function toast(msg) {
    const el = $('#toast');
    el.textContent = msg;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.textContent = ''; }, 4500);
  }

  // -------------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, problem) {
      const p = problem && typeof problem === 'object' ? problem : {};
      super(p.detail || p.title || (status ? `Request failed (HTTP ${status})` : 'Request failed'));
      this.status = status;
      this.problem = p;
      this.errors = Array.isArray(p.errors) ? p.errors : [];
    }
  }

  async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json, application/problem+json' };
    if (app.token) headers.Authorization = `Bearer ${app.token}`;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      throw new ApiError(0, { title: 'Network error', detail: 'Could not reach hookd. Check the connection and try again.' });
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) {
      const err = new ApiError(res.status, data || { title: res.statusText || `HTTP ${res.status}` });
      if (res.status === 401 && !opts.signingIn && app.token) {
        signOut('Your session has ended or the token was revoked. Please sign in again.');
      }
      throw err;
    }
    return data;
  }

  const sitePath = () => `/v1/sites/${encodeURIComponent(app.site)}`;
  const hookPath = (id) => `${sitePath()}/webhooks/${encodeURIComponent(id)}`;

  function loadCatalog() {
    if (app.catalog) return Promise.resolve(app.catalog);
    if (!app.catalogPromise) {
      app.catalogPromise = api('GET', '/v1/catalog')
        .then((c) => {
          app.catalog = { events: c.events || EVENT_ORDER, entities: Array.isArray(c.entities) ? c.entities : [] };
          return app.catalog;
        })
        .catch((e) => { app.catalogPromise = null; throw e; });
    }
    return app.catalogPromise;
  }

  // ---------------------------------------------------------------- sign in

  function showSignIn(message) {
    $('#app-view').hidden = true;
    $('#operator-view').hidden = true;
    $('#signin-view').hidden = false;
    const err = $('#signin-error');
    err.textContent = message || '';
    const input = $('#signin-token');
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
    document.title = 'Sign in · hookd';
    input.focus();
  }

  async function signIn(token) {
    app.token = token;
    let me;
    try {
      me = await api('GET', '/v1/me', undefined, { signingIn: true });
    } catch (e) {
      app.token = null;
      if (e.status === 401 || e.status === 403) throw new Error('That token was not accepted. Check it and try again.');
      throw e;
    }
    if (me && me.role === 'operator') {
      app.operator = true;
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage disabled: session lasts until reload */ }
      showOperator();
      return;
    }
    if (!me || me.role !== 'admin' || !me.site) {
      app.token = null;
      const role = me && me.role ? me.role : 'unknown';
      throw new Error(`This is a${/^[aeiou]/.test(role) ? 'n' : ''} ${role} token. Sign in with an admin token for your site.`);
    }
    app.site = me.site;
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage disabled: session lasts until reload */ }
    showApp();
  }

  function signOut(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
    app.token = null;
    app.site = null;
    app.operator = false;
    app.editing = null;
    app.listLoaded = false;
    app.healthLoaded = false;
    clearInterval(app.timer);
    app.timer = null;
    for (const d of $$('dialog')) if (d.open) d.close();
    for (const card of app.cards.values()) card.destroy();
    app.cards.clear();
    $('#signin-token').value = '';
    $('#operator-view').hidden = true;
    showSignIn(message);
  }

  function showApp() {
    $('#signin-view').hidden = true;
    $('#app-view').hidden = false;
    $('#site-chip').textContent = app.site;
    $('#site-chip').title = `Site: ${app.site}`;
    document.title = `Webhooks · ${app.site} · hookd`;
    $('#main').focus();
    loadCatalog().catch(() => { /* retried when the form opens */ });
    loadWebhooks();
    clearInterval(app.timer);
    app.timer = setInterval(onTick, TICK_MS);
  }

  function onTick() {
    if (!app.token || document.hidden) return;
    app.tick += 1;
    if (app.operator) {
      loadCapture();
      return;
    }
    for (const card of app.cards.values()) {
      if (card.log.open) card.log.refresh();
      if (card.log.open || card.hasPending) card.refreshStats();
      else if (app.tick % 5 === 0) card.refreshStats({ health: false });
      if (card.health.open && app.tick % 5 === 0) card.health.load();
    }
    if (app.tick % 5 === 0) loadHealth();
    if (app.tick % 10 === 0) loadWebhooks();
  }

  // ------------------------------------------------ operator view: capture

  function showOperator() {
    $('#signin-view').hidden = true;
    $('#app-view').hidden = true;
    $('#operator-view').hidden = false;
    document.title = 'Service status · Operator · hookd';
    $('#operator-main').focus();
    loadCapture();
    clearInterval(app.timer);
    app.timer = setInterval(onTick, TICK_MS);
  }

  const CAPTURE_STATES = {
    streaming: { label: 'Streaming', badge: 'badge-ok', note: 'reading the source and accepting its changes' },
    connecting: { label: 'Connecting', badge: 'badge-warn', note: 'connecting to the source, or standing by while another node streams the slot' },
    error: { label: 'Error', badge: 'badge-bad', note: 'stopped until the problem below is fixed' },
  };

  function fmtCount(n) {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '—';
  }

  function fmtBytes(n) {
    if (typeof n !== 'number') return '—';
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return i === 0 ? `${n.toLocaleString('en-US')} bytes` : `${v.toFixed(1)} ${units[i]} (${n.toLocaleString('en-US')} bytes)`;
  }

  /** Renders a GET /v1/capture answer into the "Change capture" panel. */
  function renderCapture(c) {
    const off = !c || c.state === 'off';
    $('#capture-off').hidden = !off;
    $('#capture-body').hidden = off;
    if (off) return;
    const st = CAPTURE_STATES[c.state] || { label: String(c.state), badge: '', note: '' };
    const badge = $('#capture-state');
    badge.className = `badge ${st.badge}`;
    const stateText = st.note ? `${st.label} — ${st.note}` : st.label;
    if (badge.textContent !== stateText) badge.textContent = stateText; // announced (role=status) only on change
    const errEl = $('#capture-error');
    const errText = c.error ? `Error: ${c.error}` : '';
    if (errEl.textContent !== errText) errEl.textContent = errText;
    errEl.hidden = !c.error;
    $('#capture-slot').textContent = c.slot || '—';
    $('#capture-publication').textContent = c.publication || '—';
    $('#capture-lsn').textContent = c.confirmedLsn || 'none yet';
    const lagMs = typeof c.lagMs === 'number' ? c.lagMs : null;
    let lag = `${fmtBytes(c.lagBytes)} of WAL · ${lagMs === null ? '—' : lagMs === 0 ? 'caught up (0 ms)' : `${fmtCount(lagMs)} ms behind`}`;
    // The source's position is sampled only while streaming: otherwise the figure is old or unknown.
    if (!c.confirmedLsn) lag = 'not known yet';
    else if (c.state !== 'streaming') lag = `last known: ${lag}`;
    $('#capture-lag').textContent = lag;
    $('#capture-changes').textContent = fmtCount(c.changes);
    $('#capture-skipped').textContent = fmtCount(c.skipped);
    $('#capture-updated').textContent = new Date().toLocaleTimeString();
  }

  async function loadCapture() {
    if (app.captureBusy) return;
    app.captureBusy = true;
    const errEl = $('#capture-load-error');
    try {
      const c = await api('GET', '/v1/capture');
      if (!app.token || !app.operator) return;
      errEl.hidden = true;
      renderCapture(c);
    } catch (e) {
      if (!app.token) return;
      errEl.textContent = `Could not load the change capture status: ${e.message}`;
      errEl.hidden = false;
    } finally {
      app.captureBusy = false;
    }
  }

  // --------------------------------------------------------- webhook list

  async function loadWebhooks() {
    if (app.listBusy) return;
    app.listBusy = true;
    const loading = $('#list-loading');
    const errEl = $('#list-error');
    if (!app.listLoaded) loading.hidden = false;
    try {
      const all = [];
      let cursor = null;
      do {
        const q = new URLSearchParams({ limit: '100' });
        if (cursor) q.set('cursor', cursor);
        const page = await api('GET', `${sitePath()}/webhooks?${q}`);
        all.push(...((page && page.data) || []));
        cursor = page && page.nextCursor;
      } while (cursor && all.length < 10000);
      if (!app.token) return;
      app.listLoaded = true;
      renderWebhooks(all);
      errEl.hidden = true;
      if (!app.healthLoaded) loadHealth();
    } catch (e) {
      if (!app.token) return;
      errEl.textContent = `Could not load webhooks: ${e.message}`;
      errEl.hidden = false;
    } finally {
      loading.hidden = true;
      app.listBusy = false;
    }
  }

  function renderWebhooks(list) {
    const container = $('#webhook-list');
    const seen = new Set();
    let prev = null;
    for (const w of list) {
      seen.add(w.id);
      let card = app.cards.get(w.id);
      if (card) {
        card.update(w);
      } else {
        card = new HookCard(w);
        app.cards.set(w.id, card);
        if (prev) prev.after(card.el);
        else container.prepend(card.el);
      }
      prev = card.el;
    }
    for (const [id, card] of app.cards) {
      if (!seen.has(id)) {
        card.destroy();
        app.cards.delete(id);
      }
    }
    updateEmptyState();
  }

  /** The 24-hour health of every webhook of the site, in one request, for the list. */
  async function loadHealth() {
    if (app.healthBusy || !app.token) return;
    app.healthBusy = true;
    try {
      const r = await api('GET', `${sitePath()}/health`);
      app.healthLoaded = true;
      for (const hh of (r && r.data) || []) {
        const card = app.cards.get(hh.webhookId);
        if (card) card.setHealth(hh);
      }
    } catch {
      /* the cards keep what they show; the next tick tries again */
    } finally {
      app.healthBusy = false;
    }
  }

  function addCard(w) {
    let card = app.cards.get(w.id);
    if (card) {
      card.update(w);
    } else {
      card = new HookCard(w);
      app.cards.set(w.id, card);
      $('#webhook-list').prepend(card.el);
    }
    updateEmptyState();
    return card;
  }

  function updateEmptyState() {
    $('#empty-state').hidden = !app.listLoaded || app.cards.size > 0;
  }

  class HookCard {
    constructor(w) {
      this.id = w.id;
      this.w = w;
      this.hasPending = false;
      this.statsBusy = false;
      const titleId = nextId('hook-title');

      this.urlEl = h('h2', { class: 'hook-url', id: titleId });
      this.stateBadge = h('span', { class: 'badge' });
      this.failingBadge = h('span', { class: 'badge badge-bad', hidden: true }, 'Failing');
      this.descEl = h('p', { class: 'hook-desc' });
      this.reasonEl = h('p', { class: 'disabled-reason' });
      this.failingEl = h('p', { class: 'failing-since', hidden: true });
      this.healthData = null;

      this.methodDd = h('dd');
      this.eventsDd = h('dd');
      this.entitiesDd = h('dd');
      this.lastDd = h('dd', null, h('span', { class: 'muted' }, 'Loading…'));
      this.rateDd = h('dd', null, h('span', { class: 'muted' }, 'Loading…'));

      this.toggleBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => this.toggleEnabled() });
      this.testBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => this.sendTest() }, 'Send test');
      this.checkBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => this.checkReceiver() }, 'Check receiver');
      this.healthBtn = h('button', {
        type: 'button', class: 'btn btn-secondary btn-small', 'aria-expanded': 'false',
        onclick: () => this.health.toggle(),
      }, 'Health');
      this.logBtn = h('button', {
        type: 'button', class: 'btn btn-secondary btn-small', 'aria-expanded': 'false',
        onclick: () => this.log.toggle(),
      }, 'Delivery log');

      this.notice = h('div', { class: 'test-result', role: 'status' });
      this.testResult = h('div', { class: 'test-result', role: 'status' });
      this.checkResult = new CheckPanel(this);
      this.health = new HealthPanel(this);
      this.healthBtn.setAttribute('aria-controls', this.health.el.id);
      this.log = new DeliveryLog(this);
      this.logBtn.setAttribute('aria-controls', this.log.el.id);

      this.el = h('article', { class: 'hook', 'aria-labelledby': titleId, 'data-webhook-id': w.id },
        h('div', { class: 'hook-head' },
          h('div', { class: 'hook-title' }, this.urlEl, this.descEl),
          h('div', { class: 'hook-badges' }, this.failingBadge, this.stateBadge)),
        this.reasonEl,
        this.failingEl,
        h('dl', { class: 'facts' },
          h('div', null, h('dt', null, 'Method'), this.methodDd),
          h('div', null, h('dt', null, 'Events'), this.eventsDd),
          h('div', null, h('dt', null, 'Data points'), this.entitiesDd),
          h('div', null, h('dt', null, 'Last delivery'), this.lastDd),
          h('div', null, h('dt', null, 'Last 24 hours'), this.rateDd)),
        h('div', { class: 'hook-actions' },
          h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => openWebhookForm(this.w) }, 'Edit'),
          this.toggleBtn,
          this.testBtn,
          this.checkBtn,
          this.healthBtn,
          h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => openRotate(this) }, 'Rotate secret'),
          h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => openReplay(this) }, 'Replay'),
          this.logBtn,
          h('span', { class: 'spacer' }),
          h('button', { type: 'button', class: 'btn btn-danger-outline btn-small', onclick: () => openDelete(this) }, 'Delete')),
        this.notice,
        this.testResult,
        this.checkResult.el,
        this.health.el,
        this.log.el);

      this.update(w);
      // On the first load the list's health comes in one request (loadHealth).
      this.refreshStats({ health: app.healthLoaded });
    }

    update(w) {
      this.w = w;
      this.urlEl.textContent = w.payloadUrl;
      this.descEl.textContent = w.description || '';
      this.descEl.hidden = !w.description;
      const enabled = w.enabled !== false;
      this.el.classList.toggle('is-disabled', !enabled);
      this.stateBadge.className = `badge ${enabled ? 'badge-ok' : 'badge-warn'}`;
      this.stateBadge.textContent = enabled ? 'Enabled' : 'Disabled';
      this.reasonEl.hidden = enabled || !w.disabledReason;
      this.reasonEl.textContent = '';
      // Disabled by hookd (every delivery failed, or 410 Gone) rather than by an admin.
      this.reasonEl.classList.toggle('is-bad', !enabled && !!w.disabledReason && w.disabledReason !== 'disabled by an admin');
      if (!enabled && w.disabledReason) {
        this.reasonEl.append(h('strong', null, 'Disabled: '), String(w.disabledReason));
        if (w.disabledAt) this.reasonEl.append(' (since ', timeEl(w.disabledAt), ')');
      }
      this.renderFailing();
      this.toggleBtn.textContent = enabled ? 'Disable' : 'Enable';
      this.methodDd.textContent = String(w.method || '').toUpperCase();
      this.eventsDd.textContent = eventsText(w.events);
      this.entitiesDd.textContent = '';
      if (w.sendEverything) {
        this.entitiesDd.append('Everything');
      } else {
        const ents = w.entities || [];
        const names = ents.slice(0, 3).join(', ') + (ents.length > 3 ? ` +${ents.length - 3} more` : '');
        this.entitiesDd.append(plural(ents.length, 'data point', 'data points'));
        if (ents.length) {
          this.entitiesDd.append(h('br'), h('span', { class: 'muted', title: ents.join(', ') }, names));
        }
      }
    }

    /** Last delivery (and whether one is pending) and, unless {health: false}, the 24-hour health. */
    async refreshStats({ health = true } = {}) {
      if (health) this.refreshHealth();
      if (this.statsBusy) return;
      this.statsBusy = true;
      try {
        const page = await api('GET', `${hookPath(this.id)}/deliveries?limit=${STATS_WINDOW}`);
        this.renderStats((page && page.data) || []);
      } catch (e) {
        if (e.status === 404) return;
        this.lastDd.textContent = '';
        this.lastDd.append(h('span', { class: 'muted' }, 'Unavailable'));
      } finally {
        this.statsBusy = false;
      }
    }

    async refreshHealth() {
      if (this.healthBusy) return;
      this.healthBusy = true;
      try {
        this.setHealth(await api('GET', `${hookPath(this.id)}/health`));
        if (this.health.open && this.health.window === '24h') this.health.load();
      } catch {
        /* keep what is shown */
      } finally {
        this.healthBusy = false;
      }
    }

    /** Shows the 24-hour health: sparkline, success ratio, failing mark. */
    setHealth(hh) {
      if (!hh || hh.window !== '24h') return;
      this.healthData = hh;
      this.rateDd.textContent = '';
      const t = hh.totals;
      const spark = sparkline(hh.intervals, t);
      if (!t.attempts) {
        this.rateDd.append(h('div', { class: 'rate' }, spark, h('span', { class: 'muted' }, 'No attempts')));
      } else {
        const pct = Math.round(t.successRatio * 100);
        const cls = pct < 50 ? 'is-low' : pct < 90 ? 'is-mid' : 'is-good';
        this.rateDd.append(h('div', { class: 'rate', title: 'Attempts per hour over the last 24 hours; the share that succeeded' },
          spark,
          h('strong', { class: `rate-pct ${cls}` }, `${pct}%`),
          h('span', { class: 'muted' }, `of ${plural(t.attempts, 'attempt', 'attempts')}`)));
      }
      this.renderFailing();
    }

    renderFailing() {
      const since = this.healthData && this.healthData.failingSince;
      const failing = !!since && this.w.enabled !== false;
      this.el.classList.toggle('is-failing', failing);
      this.failingBadge.hidden = !failing;
      this.failingEl.hidden = !failing;
      this.failingEl.textContent = '';
      if (failing) {
        this.failingEl.append(h('strong', null, 'Failing'), ' since ', timeEl(since),
          ` (${relTime(since)}): every attempt since then failed. `,
          'Check the receiver, or open the delivery log for the answers it gave.');
      }
    }

    renderStats(list) {
      this.hasPending = list.some((d) => d.state === 'pending');
      this.lastDd.textContent = '';
      const last = list[0];
      if (!last) {
        this.lastDd.append(h('span', { class: 'muted' }, 'No deliveries yet'));
      } else {
        const st = last.state;
        this.lastDd.append(h('span', { class: `badge ${STATE_BADGE[st] || ''}` }, STATE_LABELS[st] || st));
        const res = last.lastStatus !== undefined || last.lastError ? resultText(last.lastStatus, last.lastError) : '';
        const bits = [res !== '—' ? res : '', relTime(last.updatedAt || last.createdAt)].filter(Boolean);
        if (last.test) bits.push('test');
        if (bits.length) this.lastDd.append(' ', h('span', { class: 'muted', title: fmtTime(last.updatedAt || last.createdAt) }, bits.join(' · ')));
      }
    }

    async toggleEnabled() {
      const enable = this.w.enabled === false;
      setBusy(this.toggleBtn, true);
      try {
        const w = await api('PATCH', hookPath(this.id), { enabled: enable });
        this.update(w && w.id ? w : { ...this.w, enabled: enable });
        toast(enable ? 'Webhook enabled.' : 'Webhook disabled. No new deliveries will be created for it.');
      } catch (e) {
        toast(`Could not ${enable ? 'enable' : 'disable'} the webhook: ${e.message}`);
      } finally {
        setBusy(this.toggleBtn, false);
        this.toggleBtn.focus();
      }
    }

    async sendTest() {
      setBusy(this.testBtn, true);
      this.testResult.className = 'test-result';
      this.testResult.textContent = 'Sending a test message…';
      try {
        const a = await api('POST', `${hookPath(this.id)}/test`);
        const ok = isOk(a.status) && !a.error;
        this.testResult.className = `test-result ${ok ? 'is-ok' : 'is-bad'}`;
        this.testResult.textContent = '';
        this.testResult.append(
          h('p', { class: 'title' }, ok ? 'Test message delivered' : 'Test message failed'),
          h('p', null,
            h('span', null, `Status: ${resultText(a.status, a.error)}`), ' · ',
            h('span', null, `Latency: ${fmtDuration(a.durationMs)}`),
            a.startedAt ? ' · ' : '', a.startedAt ? timeEl(a.startedAt) : ''),
          snippetEl(a.responseSnippet));
        this.refreshStats();
        if (this.log.open) this.log.refresh();
      } catch (e) {
        this.testResult.className = 'test-result is-bad';
        this.testResult.textContent = `Could not send a test message: ${e.message}`;
      } finally {
        setBusy(this.testBtn, false);
      }
    }

    showSecretNotice(secret, text) {
      this.notice.className = 'test-result is-ok';
      this.notice.textContent = '';
      const input = h('input', { type: 'text', readonly: true, value: secret, 'aria-label': 'Signing secret', spellcheck: 'false' });
      const copyBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small' }, 'Copy');
      const dismiss = h('button', { type: 'button', class: 'btn btn-ghost btn-small' }, 'Dismiss');
      copyBtn.addEventListener('click', async () => { toast((await copyText(secret, input)) ? 'Secret copied.' : 'Select the secret and copy it.'); });
      dismiss.addEventListener('click', () => { this.notice.textContent = ''; this.notice.className = 'test-result'; });
      this.notice.append(h('p', { class: 'title' }, text), h('div', { class: 'input-row' }, input, copyBtn, dismiss));
    }

    async checkReceiver() {
      setBusy(this.checkBtn, true);
      try {
        await this.checkResult.run();
      } finally {
        setBusy(this.checkBtn, false);
      }
    }

    destroy() {
      this.log.close();
      this.health.close();
      this.el.remove();
    }
  }

  // ------------------------------------------------------------ receiver check

  // Per check: its label, and what to do when it does not pass (the detail says what happened).
  const CHECKS = {
    'valid-signature': {
      label: 'Valid signature accepted',
      fix: 'Real deliveries fail the same way. Check the URL and the method, and that the receiver uses this webhook\'s secret.',
    },
    'forged-signature': {
      label: 'Forged signatures refused',
      fix: 'Verify x-ioffice-signature or webhook-signature with this webhook\'s secret, and answer 401 before doing any work when it does not match.',
    },
    'stale-timestamp': {
      label: 'Old timestamp refused',
      fix: 'Verify webhook-signature with a Standard Webhooks library: it refuses timestamps more than 5 minutes away.',
    },
    'duplicate-delivery': {
      label: 'Repeated delivery accepted',
      fix: 'Remember the webhook-ids you processed and answer 2xx to a repeat without doing the work again.',
    },
    'response-time': {
      label: 'Answer time',
      fix: 'Answer 2xx as soon as the signature is verified, and do the work afterwards.',
    },
    tls: {
      label: 'TLS certificate',
      fix: 'Use a certificate from a public CA for the URL\'s host name, or start hookd with --ca-file for a private CA.',
    },
  };
  const VERDICT_BADGE = { PASS: 'badge-ok', WARN: 'badge-warn', FAIL: 'badge-bad' };

  /** "Check receiver": runs POST .../check and shows one row per check. */
  class CheckPanel {
    constructor(card) {
      this.card = card;
      const id = nextId('check');
      this.titleId = `${id}-title`;
      this.el = h('section', { class: 'check', id, hidden: true, 'aria-labelledby': this.titleId });
    }

    async run() {
      const c = this.card;
      this.el.hidden = false;
      this.el.className = 'check';
      this.el.textContent = '';
      const timeout = (c.w.timeoutMs || DEFAULTS.timeoutMs) / 1000;
      this.el.append(h('h3', { id: this.titleId }, 'Receiver check'),
        h('p', { class: 'muted', role: 'status' },
          `Sending signed test requests to ${c.w.payloadUrl}… (up to ${Math.round(2 * timeout)} s)`));
      try {
        this.render(await api('POST', `${hookPath(c.id)}/check`));
      } catch (e) {
        this.el.className = 'check is-bad';
        this.el.lastChild.textContent = `Could not check the receiver: ${e.message}`;
        this.el.lastChild.setAttribute('role', 'alert');
      }
    }

    render(r) {
      const checks = (r && r.checks) || [];
      const n = (v) => checks.filter((x) => x.result === v).length;
      const failed = n('FAIL');
      const warned = n('WARN');
      this.el.className = `check ${failed ? 'is-bad' : warned ? 'is-warn' : 'is-ok'}`;
      this.el.textContent = '';
      const rows = checks.map((x) => {
        const info = CHECKS[x.name] || { label: x.name, fix: '' };
        const detail = h('td', null, h('p', null, x.detail));
        if (x.result !== 'PASS') {
          detail.append(h('p', { class: 'check-why' }, h('strong', null, 'How to fix: '), info.fix, ' ',
            h('a', { href: `receivers.html#${encodeURIComponent(x.name)}`, target: '_blank', rel: 'noopener' },
              'Receiver guide: ', info.label.toLowerCase())));
        }
        return h('tr', { 'data-check': x.name, 'data-result': x.result },
          h('td', null, h('span', { class: `badge ${VERDICT_BADGE[x.result] || ''}` }, x.result)),
          h('th', { scope: 'row' }, info.label, h('br'), h('code', null, x.name)),
          detail);
      });
      const dismiss = h('button', { type: 'button', class: 'btn btn-ghost btn-small' }, 'Dismiss');
      dismiss.addEventListener('click', () => { this.el.hidden = true; this.card.checkBtn.focus(); });
      this.el.append(
        h('div', { class: 'check-head' },
          h('h3', { id: this.titleId }, 'Receiver check'),
          dismiss),
        h('p', { class: 'check-summary', role: 'status' },
          h('strong', null, failed ? `${plural(failed, 'check', 'checks')} failed` : warned ? 'No check failed, with warnings' : 'Every check passed'),
          ` · ${n('PASS')} passed, ${plural(warned, 'warning', 'warnings')}, ${failed} failed · ${r.method} ${r.url}`),
        h('table', { class: 'check-table' },
          h('caption', { class: 'visually-hidden' }, 'Receiver check results'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Result'), h('th', { scope: 'col' }, 'Check'), h('th', { scope: 'col' }, 'Details'))),
          h('tbody', null, rows)));
    }
  }

  // ------------------------------------------------------------------ charts

  const SVG_NS = 'http://www.w3.org/2000/svg';
  /** Builds an SVG element; string children become text nodes. */
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric' });
  const spanFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
  function intervalText(hh, i) {
    const start = new Date(hh.intervals[i].start);
    const end = new Date(start.getTime() + hh.intervalSeconds * 1000);
    return hh.window === '7d' ? `${spanFmt.format(start)}–${hourFmt.format(end)}` : `${hourFmt.format(start)}–${hourFmt.format(end)}`;
  }
  function windowText(w) {
    return w === '7d' ? 'the last 7 days' : 'the last 24 hours';
  }
  function pctText(ratio) {
    return ratio === null || ratio === undefined ? '—' : `${Math.round(ratio * 100)}%`;
  }
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function countsText(c) {
    return `${plural(c.attempts, 'attempt', 'attempts')}: ${c.succeeded} succeeded, ${c.retried} retried, ${c.failed} failed`;
  }

  /** The list's 24-hour sparkline: one bar per hour, failures in red on top. */
  function sparkline(intervals, totals) {
    const W = 96;
    const H = 24;
    const n = intervals.length || 24;
    const max = Math.max(1, ...intervals.map((x) => x.attempts));
    const bw = W / n;
    const label = totals.attempts
      ? `Attempts per hour over the last 24 hours: ${countsText(totals)}; ${pctText(totals.successRatio)} succeeded`
      : 'No attempts in the last 24 hours';
    const el = svg('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': label, focusable: 'false' },
      svg('line', { class: 'spark-base', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
    intervals.forEach((x, i) => {
      if (!x.attempts) return;
      const total = Math.max(1, Math.round((x.attempts / max) * (H - 2)));
      const bad = x.retried + x.failed ? Math.max(1, Math.round(total * ((x.retried + x.failed) / x.attempts))) : 0;
      const g = svg('g', { class: 'spark-bar' });
      if (total - bad > 0) g.append(svg('rect', { class: 'seg-ok', x: i * bw + 0.5, y: H - total, width: bw - 1, height: total - bad }));
      if (bad) g.append(svg('rect', { class: 'seg-failed', x: i * bw + 0.5, y: H - bad, width: bw - 1, height: bad }));
      el.append(g);
    });
    return el;
  }

  /** Stacked bars: succeeded, retried, failed per interval. */
  function deliveriesChart(hh, titleText, summary) {
    const W = 640;
    const H = 180;
    const L = 40;
    const B = 22;
    const T = 8;
    const n = hh.intervals.length;
    const pw = W - L - 6;
    const ph = H - B - T;
    const bw = pw / n;
    const max = niceMax(Math.max(0, ...hh.intervals.map((x) => x.attempts)));
    const y = (v) => T + ph - (v / max) * ph;
    const tid = nextId('chart-title');
    const did = nextId('chart-desc');
    const el = svg('svg', { class: 'chart', 'data-chart': 'deliveries', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${tid} ${did}`, focusable: 'false', preserveAspectRatio: 'xMidYMid meet' },
      svg('title', { id: tid }, titleText),
      svg('desc', { id: did }, summary));
    for (const v of [0, max / 2, max]) {
      el.append(svg('line', { class: 'grid', x1: L, x2: W - 6, y1: y(v), y2: y(v) }),
        svg('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v * 10) / 10)));
    }
    const every = hh.window === '7d' ? 4 : 6;
    hh.intervals.forEach((x, i) => {
      if (i % every === 0) {
        const d = new Date(x.start);
        el.append(svg('text', { class: 'axis', x: L + i * bw + bw / 2, y: H - 6, 'text-anchor': 'middle' },
          hh.window === '7d' ? dayFmt.format(d) : hourFmt.format(d)));
      }
      if (!x.attempts) return;
      const g = svg('g', { class: 'bar', 'data-start': x.start, 'data-attempts': x.attempts },
        svg('title', null, `${intervalText(hh, i)}: ${countsText(x)}`));
      let top = 0;
      for (const [k, cls] of [['succeeded', 'seg-ok'], ['retried', 'seg-retried'], ['failed', 'seg-failed']]) {
        if (!x[k]) continue;
        g.append(svg('rect', { class: cls, x: L + i * bw + bw * 0.15, y: y(top + x[k]), width: bw * 0.7, height: y(top) - y(top + x[k]) }));
        top += x[k];
      }
      el.append(g);
    });
    return el;
  }

  /** p50 and p95 latency per interval as two lines. */
  function latencyChart(hh, titleText, summary) {
    const W = 640;
    const H = 180;
    const L = 52;
    const B = 22;
    const T = 8;
    const n = hh.intervals.length;
    const pw = W - L - 6;
    const ph = H - B - T;
    const bw = pw / n;
    const max = niceMax(Math.max(0, ...hh.intervals.map((x) => x.p95Ms || 0)));
    const y = (v) => T + ph - (v / max) * ph;
    const x = (i) => L + i * bw + bw / 2;
    const tid = nextId('chart-title');
    const did = nextId('chart-desc');
    const el = svg('svg', { class: 'chart', 'data-chart': 'latency', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${tid} ${did}`, focusable: 'false', preserveAspectRatio: 'xMidYMid meet' },
      svg('title', { id: tid }, titleText),
      svg('desc', { id: did }, summary));
    for (const v of [0, max / 2, max]) {
      el.append(svg('line', { class: 'grid', x1: L, x2: W - 6, y1: y(v), y2: y(v) }),
        svg('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtDuration(v)));
    }
    const every = hh.window === '7d' ? 4 : 6;
    hh.intervals.forEach((p, i) => {
      if (i % every !== 0) return;
      const d = new Date(p.start);
      el.append(svg('text', { class: 'axis', x: x(i), y: H - 6, 'text-anchor': 'middle' }, hh.window === '7d' ? dayFmt.format(d) : hourFmt.format(d)));
    });
    for (const [key, cls] of [['p95Ms', 'line-p95'], ['p50Ms', 'line-p50']]) {
      // Lines break where an interval has no answered attempts.
      let run = [];
      const flush = () => {
        if (run.length > 1) el.append(svg('polyline', { class: cls, points: run.join(' ') }));
        run = [];
      };
      hh.intervals.forEach((p, i) => {
        if (p[key] === null || p[key] === undefined) { flush(); return; }
        run.push(`${x(i)},${y(p[key])}`);
        el.append(svg('circle', { class: `${cls} point`, cx: x(i), cy: y(p[key]), r: 2.5, 'data-start': p.start },
          svg('title', null, `${intervalText(hh, i)}: ${key === 'p50Ms' ? 'median' : '95th percentile'} ${fmtDuration(p[key])}`)));
      });
      flush();
    }
    return el;
  }

  /** "Health" panel: the charts of one webhook over 24 hours or 7 days. */
  class HealthPanel {
    constructor(card) {
      this.card = card;
      this.open = false;
      this.window = '24h';
      this.gen = 0;
      const id = nextId('health');
      const titleId = `${id}-title`;
      const name = `${id}-window`;
      this.radios = ['24h', '7d'].map((w) => {
        const input = h('input', { type: 'radio', name, value: w, checked: w === this.window });
        input.addEventListener('change', () => { if (input.checked) { this.window = w; this.load(); } });
        return h('label', { class: 'choice' }, input, w === '24h' ? ' Last 24 hours' : ' Last 7 days');
      });
      this.summary = h('p', { class: 'health-summary', 'aria-live': 'polite' });
      this.charts = h('div', { class: 'health-charts' });
      this.table = h('div', { class: 'health-table' });
      this.errorEl = h('p', { class: 'banner banner-error', role: 'alert', hidden: true });
      this.el = h('section', { class: 'health', id, hidden: true, 'aria-labelledby': titleId },
        h('div', { class: 'health-head' },
          h('h3', { id: titleId }, 'Health'),
          h('fieldset', { class: 'health-window' }, h('legend', { class: 'visually-hidden' }, 'Time window'), this.radios)),
        this.summary,
        this.errorEl,
        this.charts,
        this.table);
    }

    toggle() {
      if (this.open) this.close();
      else this.show();
    }

    show() {
      this.open = true;
      this.el.hidden = false;
      this.card.healthBtn.setAttribute('aria-expanded', 'true');
      this.load();
    }

    close() {
      this.open = false;
      this.el.hidden = true;
      this.card.healthBtn.setAttribute('aria-expanded', 'false');
    }

    async load() {
      const gen = ++this.gen;
      if (!this.charts.firstChild) this.summary.textContent = 'Loading…';
      try {
        const hh = await api('GET', `${hookPath(this.card.id)}/health?window=${this.window}`);
        if (gen !== this.gen || !this.open) return;
        this.errorEl.hidden = true;
        this.render(hh);
        if (hh.window === '24h') this.card.setHealth(hh);
      } catch (e) {
        if (gen !== this.gen) return;
        this.errorEl.textContent = `Could not load the health of this webhook: ${e.message}`;
        this.errorEl.hidden = false;
      }
    }

    render(hh) {
      const t = hh.totals;
      const span = windowText(hh.window);
      const per = hh.window === '7d' ? '6 hours' : 'hour';
      let text;
      if (!t.attempts) {
        text = `No attempts in ${span}.`;
      } else {
        text = `In ${span}: ${countsText(t)} (${pctText(t.successRatio)} succeeded).`;
        if (t.p50Ms !== null) text += ` Latency: median ${fmtDuration(t.p50Ms)}, 95th percentile ${fmtDuration(t.p95Ms)}.`;
        const busiest = hh.intervals.reduce((a, x, i) => (x.attempts > hh.intervals[a].attempts ? i : a), 0);
        text += ` Busiest: ${intervalText(hh, busiest)} with ${plural(hh.intervals[busiest].attempts, 'attempt', 'attempts')}.`;
      }
      if (hh.failingSince) text += ` Failing since ${fmtTime(hh.failingSince)}.`;
      this.summary.textContent = text;

      const answered = hh.intervals.filter((x) => x.p50Ms !== null);
      let latencyText = `No answered attempts in ${span}.`;
      if (answered.length) {
        const p50s = answered.map((x) => x.p50Ms);
        const slowest = answered.reduce((a, x) => (x.p95Ms > a.p95Ms ? x : a), answered[0]);
        latencyText = `Median per ${per} from ${fmtDuration(Math.min(...p50s))} to ${fmtDuration(Math.max(...p50s))}; ` +
          `95th percentile at most ${fmtDuration(slowest.p95Ms)} (${intervalText(hh, hh.intervals.indexOf(slowest))}).`;
      }
      this.charts.textContent = '';
      this.charts.append(
        h('figure', { class: 'chart-box' },
          h('figcaption', null, `Attempts per ${per}`,
            h('span', { class: 'legend', 'aria-hidden': 'true' },
              h('span', { class: 'key seg-ok' }), 'succeeded', h('span', { class: 'key seg-retried' }), 'retried', h('span', { class: 'key seg-failed' }), 'failed')),
          deliveriesChart(hh, `Attempts per ${per}, ${span}`, text)),
        h('figure', { class: 'chart-box' },
          h('figcaption', null, `Latency per ${per}`,
            h('span', { class: 'legend', 'aria-hidden': 'true' },
              h('span', { class: 'key line-p50' }), 'median (p50)', h('span', { class: 'key line-p95' }), '95th percentile')),
          latencyChart(hh, `Latency per ${per}, ${span}`, latencyText)));

      // The same numbers as a table, for screen readers and for copying.
      this.table.textContent = '';
      const rows = hh.intervals.map((x, i) => [x, i]).filter(([x]) => x.attempts > 0).map(([x, i]) => h('tr', null,
        h('th', { scope: 'row' }, intervalText(hh, i)),
        h('td', null, String(x.succeeded)), h('td', null, String(x.retried)), h('td', null, String(x.failed)),
        h('td', null, x.p50Ms === null ? '—' : fmtDuration(x.p50Ms)), h('td', null, x.p95Ms === null ? '—' : fmtDuration(x.p95Ms))));
      this.table.append(h('details', null,
        h('summary', null, 'Show the numbers'),
        rows.length
          ? h('table', { class: 'data-table' },
            h('caption', { class: 'visually-hidden' }, `Attempts and latency per ${per}, ${span}`),
            h('thead', null, h('tr', null, ...['Interval', 'Succeeded', 'Retried', 'Failed', 'Median', '95th percentile'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', null, rows))
          : h('p', { class: 'muted' }, `No attempts in ${span}.`)));
    }
  }

  function snippetEl(snippet) {
    const s = snippet === null || snippet === undefined ? '' : String(snippet);
    const pre = h('pre', { class: `snippet${s ? '' : ' is-empty'}` });
    pre.textContent = s || '(empty response body)';
    return pre;
  }

  // ------------------------------------------------------------ delivery log

  function newerFirst(a, b) {
    // negative when a is newer than b
    const ca = a.createdAt || '';
    const cb = b.createdAt || '';
    if (ca !== cb) return ca < cb ? 1 : -1;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  }

  class DeliveryLog {
    constructor(card) {
      this.card = card;
      this.open = false;
      this.busy = false;
      this.rows = new Map();
      this.cursor = null;
      this.generation = 0;
      this.quickTimers = [];
      const id = nextId('log');
      const titleId = `${id}-title`;
      const selId = `${id}-state`;

      this.stateSel = h('select', { id: selId },
        h('option', { value: '' }, 'All states'),
        h('option', { value: 'pending' }, 'Pending'),
        h('option', { value: 'succeeded' }, 'Succeeded'),
        h('option', { value: 'failed' }, 'Failed'),
        h('option', { value: 'cancelled' }, 'Cancelled'));
      this.stateSel.addEventListener('change', () => this.reload());
      this.refreshBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => this.reload() }, 'Refresh');
      this.list = h('ul', { class: 'deliveries' });
      this.emptyEl = h('p', { class: 'log-empty muted', hidden: true });
      this.errorEl = h('p', { class: 'banner banner-error log-error', role: 'alert', hidden: true });
      this.moreBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', hidden: true, onclick: () => this.loadMore() }, 'Load more');
      this.loadingEl = h('p', { class: 'muted', hidden: true }, 'Loading deliveries…');

      this.el = h('section', { class: 'log', id, hidden: true, 'aria-labelledby': titleId },
        h('div', { class: 'log-head' },
          h('h3', { id: titleId }, 'Delivery log'),
          h('div', { class: 'log-tools' },
            h('label', { for: selId }, 'State'), this.stateSel, this.refreshBtn)),
        this.loadingEl,
        this.list,
        this.emptyEl,
        this.errorEl,
        h('div', { class: 'log-foot' }, this.moreBtn));
    }

    toggle() {
      if (this.open) this.close();
      else this.show();
    }

    show() {
      this.open = true;
      this.el.hidden = false;
      this.card.logBtn.setAttribute('aria-expanded', 'true');
      this.reload();
    }

    close() {
      this.open = false;
      this.el.hidden = true;
      this.card.logBtn.setAttribute('aria-expanded', 'false');
      for (const t of this.quickTimers) clearTimeout(t);
      this.quickTimers = [];
    }

    query(cursor, limit) {
      const q = new URLSearchParams({ limit: String(limit || LOG_PAGE) });
      if (this.stateSel.value) q.set('state', this.stateSel.value);
      if (cursor) q.set('cursor', cursor);
      return api('GET', `${hookPath(this.card.id)}/deliveries?${q}`);
    }

    async reload() {
      const gen = ++this.generation;
      this.loadingEl.hidden = this.rows.size > 0;
      this.errorEl.hidden = true;
      try {
        const page = await this.query(null);
        if (gen !== this.generation) return;
        this.rows.clear();
        this.list.textContent = '';
        this.append((page && page.data) || []);
        this.cursor = page && page.nextCursor;
        this.updateFoot();
      } catch (e) {
        if (gen !== this.generation) return;
        this.showError(e);
      } finally {
        if (gen === this.generation) this.loadingEl.hidden = true;
      }
    }

    /** Merges the newest page into the list without disturbing focus or expanded rows. */
    async refresh() {
      if (!this.open || this.busy) return;
      this.busy = true;
      const gen = this.generation;
      try {
        const page = await this.query(null);
        if (gen !== this.generation || !this.open) return;
        const items = (page && page.data) || [];
        if (this.rows.size && items.length && !items.some((d) => this.rows.has(d.id))) {
          // Too many new deliveries to merge: start over from the newest page.
          this.rows.clear();
          this.list.textContent = '';
          this.append(items);
          this.cursor = page.nextCursor;
        } else {
          const wasEmpty = this.rows.size === 0;
          for (const d of items) {
            const row = this.rows.get(d.id);
            if (row) row.update(d);
            else this.insertSorted(d);
          }
          if (wasEmpty) this.cursor = page && page.nextCursor;
        }
        this.errorEl.hidden = true;
        this.updateFoot();
      } catch (e) {
        if (gen === this.generation) this.showError(e);
      } finally {
        this.busy = false;
      }
    }

    async loadMore() {
      if (!this.cursor) return;
      setBusy(this.moreBtn, true);
      const gen = this.generation;
      try {
        const page = await this.query(this.cursor);
        if (gen !== this.generation) return;
        this.append((page && page.data) || []);
        this.cursor = page && page.nextCursor;
        this.updateFoot();
      } catch (e) {
        this.showError(e);
      } finally {
        setBusy(this.moreBtn, false);
        if (!this.moreBtn.hidden) this.moreBtn.focus();
      }
    }

    append(items) {
      for (const d of items) {
        if (this.rows.has(d.id)) continue;
        const row = new DeliveryRow(this, d);
        this.rows.set(d.id, row);
        this.list.append(row.el);
      }
    }

    insertSorted(d) {
      const row = new DeliveryRow(this, d);
      this.rows.set(d.id, row);
      for (const li of this.list.children) {
        const other = this.rows.get(li.dataset.deliveryId);
        if (other && newerFirst(d, other.d) < 0) {
          this.list.insertBefore(row.el, li);
          return;
        }
      }
      this.list.append(row.el);
    }

    updateFoot() {
      const filtered = this.stateSel.value;
      this.emptyEl.hidden = this.rows.size > 0;
      this.emptyEl.textContent = filtered
        ? `No ${STATE_LABELS[filtered].toLowerCase()} deliveries.`
        : 'No deliveries yet. Deliveries appear here when an event matches this webhook, or when you send a test.';
      this.moreBtn.hidden = !this.cursor;
    }

    showError(e) {
      this.errorEl.textContent = `Could not load deliveries: ${e.message}`;
      this.errorEl.hidden = false;
    }

    /** Refreshes a few times soon, e.g. after a retry. */
    kick() {
      for (const t of this.quickTimers) clearTimeout(t);
      this.quickTimers = [600, 1500, 3000, 6000].map((ms) => setTimeout(() => {
        this.refresh();
        this.card.refreshStats();
      }, ms));
    }
  }

  class DeliveryRow {
    constructor(log, d) {
      this.log = log;
      this.d = d;
      this.expanded = false;
      this.detailGen = 0;
      const detailId = nextId('delivery');
      this.toggleBtn = h('button', {
        type: 'button', class: 'delivery-toggle', 'aria-expanded': 'false', 'aria-controls': detailId,
        onclick: () => this.setExpanded(!this.expanded),
      });
      this.retryBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => this.retry() }, 'Retry');
      this.detail = h('div', { class: 'delivery-detail', id: detailId, hidden: true });
      this.el = h('li', { class: 'delivery', 'data-delivery-id': d.id },
        h('div', { class: 'delivery-row' }, this.toggleBtn, this.retryBtn),
        this.detail);
      this.render();
    }

    render() {
      const d = this.d;
      const st = d.state;
      const attempts = d.attemptCount || 0;
      const meta = [];
      if (d.lastStatus !== null && d.lastStatus !== undefined || d.lastError) meta.push(resultText(d.lastStatus, d.lastError));
      meta.push(plural(attempts, 'attempt', 'attempts'));
      this.toggleBtn.textContent = '';
      this.toggleBtn.append(
        h('span', { class: 'chev', 'aria-hidden': 'true' }, '›'),
        h('span', { class: 'state' }, h('span', { class: `badge ${STATE_BADGE[st] || ''}` }, STATE_LABELS[st] || String(st))),
        ' ',
        h('span', { class: 'what' },
          `${EVENT_LABELS[d.event] || d.event} `,
          h('span', { class: 'ent' }, String(d.entity)),
          ` ${fmtEntityId(d.entityId)}`,
          d.test ? h('span', { class: 'test-tag' }, 'TEST') : null),
        ' ',
        h('span', { class: 'meta' }, `${meta.join(' · ')} · `, timeEl(d.createdAt)));
    }

    update(d) {
      const old = this.d;
      this.d = { ...old, ...d };
      const changed = old.state !== d.state || old.attemptCount !== d.attemptCount ||
        old.updatedAt !== d.updatedAt || old.lastStatus !== d.lastStatus || old.lastError !== d.lastError;
      if (!changed) return;
      this.render();
      if (this.expanded) this.loadDetail();
    }

    setExpanded(on) {
      this.expanded = on;
      this.toggleBtn.setAttribute('aria-expanded', on ? 'true' : 'false');
      this.detail.hidden = !on;
      if (on) this.loadDetail();
    }

    async loadDetail() {
      const gen = ++this.detailGen;
      if (!this.detail.firstChild) this.detail.append(h('p', { class: 'muted' }, 'Loading attempts…'));
      try {
        const d = await api('GET', `${sitePath()}/deliveries/${encodeURIComponent(this.d.id)}`);
        if (gen !== this.detailGen) return;
        this.renderDetail(d);
      } catch (e) {
        if (gen !== this.detailGen) return;
        this.detail.textContent = '';
        this.detail.append(h('p', { class: 'banner banner-error', role: 'alert' }, `Could not load attempts: ${e.message}`));
      }
    }

    renderDetail(d) {
      this.detail.textContent = '';
      this.detail.append(h('p', { class: 'delivery-ids' },
        `Delivery ${d.id} · event ${d.eventId || ''} · created `, timeEl(d.createdAt)));
      const attempts = Array.isArray(d.attempts) ? [...d.attempts] : [];
      attempts.sort((a, b) => (a.number || 0) - (b.number || 0));
      if (!attempts.length) {
        this.detail.append(h('p', { class: 'muted' }, 'No attempts yet.'));
      } else {
        const ol = h('ol', { class: 'attempts', 'aria-label': 'Attempts' });
        for (const a of attempts) {
          const ok = isOk(a.status) && !a.error;
          ol.append(h('li', { class: `attempt ${ok ? 'is-ok' : 'is-bad'}` },
            h('div', { class: 'attempt-line' },
              h('span', { class: 'n' }, `Attempt ${a.number}`),
              timeEl(a.startedAt),
              h('span', { class: ok ? 'res-ok' : 'res-bad' }, resultText(a.status, a.error)),
              h('span', null, fmtDuration(a.durationMs))),
            snippetEl(a.responseSnippet)));
        }
        this.detail.append(ol);
      }
      if (d.state === 'pending' && d.nextAttemptAt) {
        this.detail.append(h('p', { class: 'next-attempt' }, 'Next attempt ', timeEl(d.nextAttemptAt)));
      }
    }

    async retry() {
      setBusy(this.retryBtn, true);
      try {
        const d = await api('POST', `${sitePath()}/deliveries/${encodeURIComponent(this.d.id)}/retry`);
        if (d && d.id === this.d.id) this.update(d);
        toast('Delivery queued to be sent again.');
        this.log.kick();
      } catch (e) {
        toast(`Could not retry the delivery: ${e.message}`);
      } finally {
        setBusy(this.retryBtn, false);
      }
    }
  }

  // ------------------------------------------------------- field errors

  /** Shows problem-document errors next to fields; returns the unmatched ones. */
  function showFieldErrors(form, errors, map) {
    const unmatched = [];
    const byKey = new Map();
    for (const e of errors) {
      const field = String(e.field || '');
      const root = field.split(/[.[]/)[0];
      const key = map[root] ? root : null;
      if (!key) { unmatched.push(e); continue; }
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(e.message || 'Invalid value.');
    }
    let first = null;
    for (const [key, msgs] of byKey) {
      const m = map[key];
      const errEl = $(`#${m.error}`, form);
      if (errEl) errEl.textContent = [...new Set(msgs)].join(' ');
      const wrapper = errEl && errEl.closest('.field');
      if (wrapper) wrapper.classList.add('has-error');
      for (const inp of m.inputs()) inp.setAttribute('aria-invalid', 'true');
      if (!first) first = m.inputs()[0];
    }
    return { unmatched, first };
  }

  function clearFieldErrors(form) {
    for (const el of $$('.field-error', form)) el.textContent = '';
    for (const el of $$('.has-error', form)) el.classList.remove('has-error');
    for (const el of $$('[aria-invalid]', form)) el.removeAttribute('aria-invalid');
    for (const el of $$('.banner-error', form)) { el.hidden = true; el.textContent = ''; }
  }

  function clearOneError(form, map, key) {
    const m = map[key];
    if (!m) return;
    const errEl = $(`#${m.error}`, form);
    if (!errEl || !errEl.textContent) return;
    errEl.textContent = '';
    const wrapper = errEl.closest('.field');
    if (wrapper) wrapper.classList.remove('has-error');
    for (const inp of m.inputs()) inp.removeAttribute('aria-invalid');
  }

  function showProblem(form, bannerSel, err, map) {
    const banner = $(bannerSel, form);
    const { unmatched, first } = showFieldErrors(form, err.errors || [], map);
    const lines = [];
    if (err.errors && err.errors.length) {
      if (!unmatched.length || first) lines.push('Please correct the highlighted fields.');
      for (const u of unmatched) lines.push(`${u.field ? `${u.field}: ` : ''}${u.message || ''}`);
    } else {
      lines.push(err.message);
    }
    banner.textContent = lines.join(' ');
    banner.hidden = false;
    if (first) first.focus();
    else banner.scrollIntoView({ block: 'nearest' });
  }

  // ---------------------------------------------------- create / edit form

  const form = {
    dialog: null,
    el: null,
    entityInputs: new Map(), // name -> {input, label}
    selected: new Set(),
    builtFor: null,
  };

  const WEBHOOK_FIELDS = {
    payloadUrl: { error: 'err-payloadUrl', inputs: () => [$('#f-url')] },
    secret: { error: 'err-secret', inputs: () => [$('#f-secret')] },
    events: { error: 'err-events', inputs: () => $$('#f-events input') },
    method: { error: 'err-method', inputs: () => $$('input[name="method"]') },
    entities: { error: 'err-entities', inputs: () => [$('#f-everything').checked ? $('#f-everything') : $('#f-entity-search')] },
    sendEverything: { error: 'err-entities', inputs: () => [$('#f-everything')] },
    description: { error: 'err-description', inputs: () => [$('#f-description')] },
    timeoutMs: { error: 'err-timeoutMs', inputs: () => [$('#f-timeout')] },
    maxInFlight: { error: 'err-maxInFlight', inputs: () => [$('#f-inflight')] },
    rateLimitPerSecond: { error: 'err-rateLimitPerSecond', inputs: () => [$('#f-rate')] },
    ordering: { error: 'err-ordering', inputs: () => [$('#f-ordering')] },
  };

  function buildEntityGrid(catalog) {
    if (form.builtFor === catalog) return;
    const grid = $('#f-entities');
    grid.textContent = '';
    form.entityInputs.clear();
    for (const e of catalog.entities) {
      const input = h('input', { type: 'checkbox', value: e.name });
      input.addEventListener('change', () => {
        if (input.checked) form.selected.add(e.name);
        else form.selected.delete(e.name);
        updateEntityCount();
        clearOneError(form.el, WEBHOOK_FIELDS, 'entities');
      });
      const label = h('label', { class: 'choice', title: e.description || null }, input, ` ${e.name}`);
      form.entityInputs.set(e.name, { input, label, key: e.name.toLowerCase() });
      grid.append(label);
    }
    form.builtFor = catalog;
  }

  function normalise(s) {
    return String(s).toLowerCase().replace(/[\s_-]+/g, '');
  }

  function filteredEntities() {
    return [...form.entityInputs.entries()].filter(([, v]) => !v.label.hidden);
  }

  function applyEntityFilter() {
    const q = normalise($('#f-entity-search').value);
    let shown = 0;
    for (const [name, v] of form.entityInputs) {
      const match = !q || normalise(name).includes(q);
      v.label.hidden = !match;
      if (match) shown += 1;
    }
    $('#f-entity-nomatch').hidden = shown > 0;
    updateEntityCount();
  }

  function updateEntityCount() {
    const total = form.entityInputs.size;
    const shown = filteredEntities().length;
    let text = `${form.selected.size} of ${total} selected`;
    if (shown !== total) text += ` · ${shown} shown`;
    $('#f-entity-count').textContent = text;
  }

  function syncEntityChecks() {
    for (const [name, v] of form.entityInputs) v.input.checked = form.selected.has(name);
    updateEntityCount();
  }

  function updatePickerVisibility() {
    $('#entity-picker').hidden = $('#f-everything').checked;
  }

  async function openWebhookForm(w) {
    app.editing = w || null;
    const f = form.el;
    clearFieldErrors(f);
    $('#form-secret-notice').hidden = true;
    $('#webhook-dialog-title').textContent = w ? 'Edit Webhook' : 'Create Webhook';
    $('#f-url').value = w ? w.payloadUrl || '' : '';
    const secret = $('#f-secret');
    secret.value = '';
    secret.placeholder = w ? 'Unchanged (leave blank to keep the current secret)' : '';
    $('#f-secret-hint').textContent = w
      ? 'Leave blank to keep the current secret. To replace it with a grace period, use “Rotate secret” instead.'
      : 'Used to sign each message (x-ioffice-signature and webhook-signature). Leave blank to have one generated.';
    const events = new Set(((w && w.events) || []).map((e) => String(e).toUpperCase()));
    for (const cb of $$('#f-events input')) cb.checked = events.has(cb.value);
    const method = String((w && w.method) || 'POST').toUpperCase();
    for (const r of $$('input[name="method"]')) r.checked = r.value === method;
    $('#f-everything').checked = !!(w && w.sendEverything);
    $('#f-description').value = (w && w.description) || '';
    const timeout = w && w.timeoutMs != null ? w.timeoutMs : DEFAULTS.timeoutMs;
    const inflight = w && w.maxInFlight != null ? w.maxInFlight : DEFAULTS.maxInFlight;
    const rate = w && w.rateLimitPerSecond != null ? w.rateLimitPerSecond : null;
    const ordering = (w && w.ordering) || DEFAULTS.ordering;
    $('#f-timeout').value = String(timeout);
    $('#f-inflight').value = String(inflight);
    $('#f-rate').value = rate === null ? '' : String(rate);
    $('#f-ordering').checked = ordering === 'entity';
    $('#f-advanced').open = timeout !== DEFAULTS.timeoutMs || inflight !== DEFAULTS.maxInFlight || rate !== null || ordering !== 'none';
    $('#f-entity-search').value = '';
    updatePickerVisibility();

    form.selected = new Set();
    $('#f-entity-count').textContent = 'Loading data points…';
    if (!form.dialog.open) form.dialog.showModal();
    $('#f-url').focus();

    try {
      const catalog = await loadCatalog();
      buildEntityGrid(catalog);
      const byLower = new Map(catalog.entities.map((e) => [e.name.toLowerCase(), e.name]));
      for (const n of (w && w.entities) || []) {
        const name = byLower.get(String(n).toLowerCase());
        if (name) form.selected.add(name);
      }
      syncEntityChecks();
      applyEntityFilter();
    } catch (e) {
      const banner = $('#form-error');
      banner.textContent = `Could not load the data point catalogue: ${e.message}`;
      banner.hidden = false;
    }
  }

  function readNumber(sel) {
    const v = $(sel).value.trim();
    if (v === '') return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : v; // non-numbers go to the server, which explains the problem
  }

  function buildWebhookBody() {
    const w = app.editing;
    const body = {
      payloadUrl: $('#f-url').value.trim(),
      events: $$('#f-events input').filter((c) => c.checked).map((c) => c.value),
      method: ($$('input[name="method"]').find((r) => r.checked) || { value: 'POST' }).value,
      sendEverything: $('#f-everything').checked,
      description: $('#f-description').value.trim(),
    };
    if (!body.sendEverything) {
      const order = app.catalog ? app.catalog.entities.map((e) => e.name) : [...form.selected];
      body.entities = order.filter((n) => form.selected.has(n));
    }
    const secret = $('#f-secret').value;
    if (secret.trim() !== '') body.secret = secret.trim();

    const current = {
      timeoutMs: w && w.timeoutMs != null ? w.timeoutMs : DEFAULTS.timeoutMs,
      maxInFlight: w && w.maxInFlight != null ? w.maxInFlight : DEFAULTS.maxInFlight,
      rateLimitPerSecond: w && w.rateLimitPerSecond != null ? w.rateLimitPerSecond : null,
      ordering: (w && w.ordering) || DEFAULTS.ordering,
    };
    const wanted = {
      timeoutMs: readNumber('#f-timeout') ?? DEFAULTS.timeoutMs,
      maxInFlight: readNumber('#f-inflight') ?? DEFAULTS.maxInFlight,
      rateLimitPerSecond: readNumber('#f-rate'),
      ordering: $('#f-ordering').checked ? 'entity' : 'none',
    };
    for (const k of Object.keys(wanted)) {
      if (wanted[k] !== current[k]) body[k] = wanted[k];
    }
    return body;
  }

  async function submitWebhookForm(ev) {
    ev.preventDefault();
    const f = form.el;
    clearFieldErrors(f);
    const btn = $('#webhook-save');
    const body = buildWebhookBody();
    const editing = app.editing;
    setBusy(btn, true);
    try {
      let w;
      if (editing) {
        w = await api('PATCH', hookPath(editing.id), body);
      } else {
        w = await api('POST', `${sitePath()}/webhooks`, body);
      }
      form.dialog.close();
      const card = addCard(w);
      if (!editing && !body.secret && w && !isMasked(w.secret)) {
        card.showSecretNotice(w.secret, 'Webhook created. Copy its signing secret now; it is not shown again.');
      }
      toast(editing ? 'Webhook saved.' : 'Webhook created.');
      card.refreshStats();
    } catch (e) {
      showProblem(f, '#form-error', e, WEBHOOK_FIELDS);
    } finally {
      setBusy(btn, false);
    }
  }

  function wireWebhookForm() {
    form.dialog = $('#webhook-dialog');
    form.el = $('#webhook-form');
    form.el.addEventListener('submit', submitWebhookForm);
    $('#f-secret-generate').addEventListener('click', () => {
      const input = $('#f-secret');
      input.value = generateSecret();
      clearOneError(form.el, WEBHOOK_FIELDS, 'secret');
      const notice = $('#form-secret-notice');
      notice.textContent = 'A new secret was generated. Copy it into your receiver before saving; it is shown in full only now.';
      notice.hidden = false;
      input.focus();
      input.select();
    });
    $('#f-everything').addEventListener('change', () => {
      updatePickerVisibility();
      clearOneError(form.el, WEBHOOK_FIELDS, 'entities');
    });
    $('#f-entity-search').addEventListener('input', applyEntityFilter);
    $('#f-entity-search').addEventListener('keydown', (e) => {
      // Enter in the search box must not submit the whole form.
      if (e.key === 'Enter') e.preventDefault();
    });
    $('#f-select-all').addEventListener('click', () => {
      for (const [name] of filteredEntities()) form.selected.add(name);
      syncEntityChecks();
      clearOneError(form.el, WEBHOOK_FIELDS, 'entities');
    });
    $('#f-select-none').addEventListener('click', () => {
      for (const [name] of filteredEntities()) form.selected.delete(name);
      syncEntityChecks();
    });
    $('#f-url').addEventListener('input', () => clearOneError(form.el, WEBHOOK_FIELDS, 'payloadUrl'));
    $('#f-secret').addEventListener('input', () => clearOneError(form.el, WEBHOOK_FIELDS, 'secret'));
    for (const cb of $$('#f-events input')) cb.addEventListener('change', () => clearOneError(form.el, WEBHOOK_FIELDS, 'events'));
    for (const r of $$('input[name="method"]')) r.addEventListener('change', () => clearOneError(form.el, WEBHOOK_FIELDS, 'method'));
  }

  // ---------------------------------------------------------------- delete

  let deleteTarget = null;

  function openDelete(card) {
    deleteTarget = card;
    const f = $('#delete-form');
    clearFieldErrors(f);
    $('#delete-dialog-url').textContent = card.w.payloadUrl;
    $('#delete-dialog').showModal();
  }

  async function submitDelete(ev) {
    ev.preventDefault();
    const card = deleteTarget;
    if (!card) return;
    const btn = $('#delete-form button[type="submit"]');
    setBusy(btn, true);
    try {
      try {
        await api('DELETE', hookPath(card.id));
      } catch (e) {
        if (e.status !== 404) throw e; // already gone: fine
      }
      $('#delete-dialog').close();
      card.destroy();
      app.cards.delete(card.id);
      updateEmptyState();
      toast('Webhook deleted.');
      const target = app.cards.size ? $('#create-webhook') : $('#empty-create');
      target.focus();
    } catch (e) {
      const banner = $('#delete-error');
      banner.textContent = `Could not delete the webhook: ${e.message}`;
      banner.hidden = false;
    } finally {
      setBusy(btn, false);
      deleteTarget = null;
    }
  }

  // --------------------------------------------------------- rotate secret

  let rotateTarget = null;
  const ROTATE_FIELDS = {
    secret: { error: 'err-r-secret', inputs: () => [$('#r-secret')] },
    graceSeconds: { error: 'err-r-grace', inputs: () => [$('#r-grace')] },
  };

  function openRotate(card) {
    rotateTarget = card;
    const f = $('#rotate-form');
    clearFieldErrors(f);
    $('#r-secret').value = '';
    $('#r-grace').value = '24';
    $('#rotate-input').hidden = false;
    $('#rotate-result').hidden = true;
    $('#rotate-submit').hidden = false;
    $('#rotate-cancel').textContent = 'Cancel';
    $('#rotate-dialog').showModal();
    $('#r-secret').focus();
  }

  async function submitRotate(ev) {
    ev.preventDefault();
    const card = rotateTarget;
    if (!card) return;
    const f = $('#rotate-form');
    clearFieldErrors(f);
    const body = {};
    const secret = $('#r-secret').value.trim();
    if (secret) body.secret = secret;
    const hours = $('#r-grace').value.trim();
    if (hours !== '') {
      const n = Number(hours);
      body.graceSeconds = Number.isFinite(n) ? Math.round(n * 3600) : hours;
    }
    const btn = $('#rotate-submit');
    setBusy(btn, true);
    try {
      const w = await api('POST', `${hookPath(card.id)}/rotate-secret`, body);
      if (w && w.id) card.update(w);
      const shown = secret || (w && !isMasked(w.secret) ? w.secret : '');
      $('#rotate-input').hidden = true;
      $('#rotate-result').hidden = false;
      $('#r-new-secret').value = shown || '(the server did not return the new secret)';
      $('#rotate-submit').hidden = true;
      $('#rotate-cancel').textContent = 'Done';
      $('#r-new-secret').focus();
      $('#r-new-secret').select();
      toast('Secret rotated.');
    } catch (e) {
      showProblem(f, '#rotate-error', e, ROTATE_FIELDS);
    } finally {
      setBusy(btn, false);
    }
  }

  // ------------------------------------------------------------------ replay

  let replayTarget = null;
  const REPLAY_FIELDS = {
    since: { error: 'err-p-since', inputs: () => [$('#p-since')] },
    until: { error: 'err-p-until', inputs: () => [$('#p-until')] },
    state: { error: 'err-p-until', inputs: () => [$('#p-state')] },
  };

  function toLocalInput(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function openReplay(card) {
    replayTarget = card;
    const f = $('#replay-form');
    clearFieldErrors(f);
    $('#replay-result').hidden = true;
    $('#p-since').value = toLocalInput(new Date(Date.now() - 24 * 3600 * 1000));
    $('#p-until').value = '';
    $('#p-state').value = '';
    $('#replay-cancel').textContent = 'Cancel';
    $('#replay-dialog').showModal();
    $('#p-since').focus();
  }

  async function submitReplay(ev) {
    ev.preventDefault();
    const card = replayTarget;
    if (!card) return;
    const f = $('#replay-form');
    clearFieldErrors(f);
    $('#replay-result').hidden = true;
    const sinceVal = $('#p-since').value;
    const untilVal = $('#p-until').value;
    const local = [];
    const since = sinceVal ? new Date(sinceVal) : null;
    const until = untilVal ? new Date(untilVal) : null;
    if (!since || Number.isNaN(since.getTime())) local.push({ field: 'since', message: 'Choose the start of the time range.' });
    if (until && Number.isNaN(until.getTime())) local.push({ field: 'until', message: 'Not a valid date and time.' });
    if (since && until && until <= since) local.push({ field: 'until', message: 'Must be after “Since”.' });
    if (local.length) {
      showProblem(f, '#replay-error', { errors: local, message: '' }, REPLAY_FIELDS);
      return;
    }
    const body = { since: since.toISOString() };
    if (until) body.until = until.toISOString();
    if ($('#p-state').value) body.state = $('#p-state').value;
    const btn = $('#replay-submit');
    setBusy(btn, true);
    try {
      const r = await api('POST', `${hookPath(card.id)}/replay`, body);
      const n = r && typeof r.enqueued === 'number' ? r.enqueued : 0;
      const res = $('#replay-result');
      res.textContent = n === 0
        ? 'No deliveries matched that time range.'
        : `${plural(n, 'delivery', 'deliveries')} queued to be sent again.`;
      res.hidden = false;
      $('#replay-cancel').textContent = 'Done';
      if (card.log.open) card.log.kick();
      card.refreshStats();
    } catch (e) {
      showProblem(f, '#replay-error', e, REPLAY_FIELDS);
    } finally {
      setBusy(btn, false);
    }
  }

  // ------------------------------------------------------------------- boot

  function init() {
    $('#signin-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const input = $('#signin-token');
      const token = input.value.trim();
      const err = $('#signin-error');
      if (!token) {
        err.textContent = 'Enter your admin token.';
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      const btn = $('#signin-submit');
      setBusy(btn, true);
      err.textContent = '';
      input.removeAttribute('aria-invalid');
      try {
        await signIn(token);
        input.value = '';
      } catch (e) {
        err.textContent = e.message;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        input.select();
      } finally {
        setBusy(btn, false);
      }
    });
    $('#signin-token').addEventListener('input', () => {
      $('#signin-error').textContent = '';
      $('#signin-token').removeAttribute('aria-invalid');
    });
    $('#signout').addEventListener('click', () => signOut(''));
    $('#operator-signout').addEventListener('click', () => signOut(''));
    $('#create-webhook').addEventListener('click', () => openWebhookForm(null));
    $('#empty-create').addEventListener('click', () => openWebhookForm(null));

    for (const btn of $$('dialog [data-close]')) {
      btn.addEventListener('click', () => btn.closest('dialog').close());
    }
    // Clicking the backdrop of a small dialog closes it; the webhook form keeps typed input safe.
    for (const d of $$('#delete-dialog, #rotate-dialog, #replay-dialog')) {
      d.addEventListener('click', (e) => { if (e.target === d) d.close(); });
    }

    wireWebhookForm();
    $('#delete-form').addEventListener('submit', submitDelete);
    $('#rotate-form').addEventListener('submit', submitRotate);
    $('#r-secret-generate').addEventListener('click', () => {
      $('#r-secret').value = generateSecret();
      $('#r-secret').focus();
    });
    $('#r-copy').addEventListener('click', async () => {
      const input = $('#r-new-secret');
      toast((await copyText(input.value, input)) ? 'Secret copied.' : 'Select the secret and copy it.');
    });
    $('#replay-form').addEventListener('submit', submitReplay);

    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && app.token) onTick();
    });

    let saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch { saved = null; }
    if (saved) {
      signIn(saved).catch((e) => {
        try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
        showSignIn(e.status === 0 ? e.message : 'Please sign in again.');
      });
    } else {
      showSignIn('');
    }
  }

  init();
})();
