#pragma once
// Versioned schema migrations for SQLite; PRAGMA user_version holds the version applied.
// Append only: never edit a migration that has shipped.
#include <array>
#include <string_view>

namespace hookd::store::sqlite {

inline constexpr std::array<std::string_view, 7> kMigrations = {
    // 1: initial schema
    R"sql(
CREATE TABLE sites (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  site TEXT REFERENCES sites(id),
  role INTEGER NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX tokens_site ON tokens(site, id);
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  site TEXT NOT NULL REFERENCES sites(id),
  payload_url TEXT NOT NULL,
  secret TEXT NOT NULL,
  old_secret TEXT,
  old_secret_until INTEGER NOT NULL DEFAULT 0,
  events INTEGER NOT NULL,
  method INTEGER NOT NULL,
  send_everything INTEGER NOT NULL,
  entities TEXT NOT NULL,
  description TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  ordering INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  max_in_flight INTEGER NOT NULL,
  rate_limit INTEGER,
  disabled_reason TEXT,
  disabled_at INTEGER,
  failing_since INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX webhooks_site ON webhooks(site, id);
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  site TEXT NOT NULL,
  event INTEGER NOT NULL,
  entity TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  entity_num INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  site TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event INTEGER NOT NULL,
  entity TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  entity_num INTEGER NOT NULL,
  state INTEGER NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER,
  lease_owner TEXT,
  order_key TEXT,
  last_status INTEGER,
  last_error INTEGER NOT NULL DEFAULT 0,
  test INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 0;
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_order ON deliveries(webhook_id, order_key, seq) WHERE order_key IS NOT NULL AND state = 0;
CREATE INDEX deliveries_created ON deliveries(created_at);
CREATE TABLE attempts (
  delivery_seq INTEGER NOT NULL,
  number INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status INTEGER,
  error INTEGER NOT NULL,
  snippet TEXT NOT NULL,
  PRIMARY KEY (delivery_seq, number)
) WITHOUT ROWID;
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE idempotency (
  site TEXT NOT NULL,
  key TEXT NOT NULL,
  ids TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (site, key)
) WITHOUT ROWID;
)sql",
    // 2: audit log
    R"sql(
CREATE TABLE audit (
  id TEXT PRIMARY KEY,
  site TEXT NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX audit_site ON audit(site, id);
)sql",
    // 3: due deliveries per webhook (claims for webhooks behind a full one)
    R"sql(
CREATE INDEX deliveries_webhook_due ON deliveries(webhook_id, next_at) WHERE state = 0;
)sql",
    // 4: the queue index moved to memory (DueQueue): claims no longer read due times or
    // order keys from indexes; only the pending rows are found, at start, by their seq.
    // Retention walks deliveries in seq order (which is creation order), not by created_at.
    R"sql(
DROP INDEX deliveries_due;
DROP INDEX deliveries_webhook_due;
DROP INDEX deliveries_order;
DROP INDEX deliveries_created;
CREATE INDEX deliveries_pending ON deliveries(seq) WHERE state = 0;
)sql",
    // 5: a version per webhook, so an update cannot undo a concurrent disable
    R"sql(
ALTER TABLE webhooks ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
)sql",
    // 6: attempts per webhook and UTC hour, written with the attempts (Complete), for the
    // admin page's health charts: succeeded / retried / failed, and latency in the buckets
    // of core/health.hpp (l0..l15). Purged with the delivery history.
    R"sql(
CREATE TABLE webhook_hours (
  webhook_id TEXT NOT NULL,
  hour INTEGER NOT NULL,
  succeeded INTEGER NOT NULL DEFAULT 0,
  retried INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  l0 INTEGER NOT NULL DEFAULT 0,
  l1 INTEGER NOT NULL DEFAULT 0,
  l2 INTEGER NOT NULL DEFAULT 0,
  l3 INTEGER NOT NULL DEFAULT 0,
  l4 INTEGER NOT NULL DEFAULT 0,
  l5 INTEGER NOT NULL DEFAULT 0,
  l6 INTEGER NOT NULL DEFAULT 0,
  l7 INTEGER NOT NULL DEFAULT 0,
  l8 INTEGER NOT NULL DEFAULT 0,
  l9 INTEGER NOT NULL DEFAULT 0,
  l10 INTEGER NOT NULL DEFAULT 0,
  l11 INTEGER NOT NULL DEFAULT 0,
  l12 INTEGER NOT NULL DEFAULT 0,
  l13 INTEGER NOT NULL DEFAULT 0,
  l14 INTEGER NOT NULL DEFAULT 0,
  l15 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (webhook_id, hour)
) WITHOUT ROWID;
CREATE INDEX webhook_hours_hour ON webhook_hours(hour);
)sql",
    // 7: W3C trace context of the request that submitted each event (core/trace_context.hpp);
    // NULL for events from before: their attempts send no traceparent.
    R"sql(
ALTER TABLE events ADD COLUMN traceparent TEXT;
ALTER TABLE events ADD COLUMN tracestate TEXT;
)sql",
};

}  // namespace hookd::store::sqlite
