#pragma once
// Versioned schema migrations for PostgreSQL; schema_migrations records what was applied.
// Applied under an advisory lock, so nodes starting together do not race. Append only.
#include <array>
#include <string_view>

namespace hookd::store::postgres {

inline constexpr std::array<std::string_view, 10> kMigrations = {
    // 1: initial schema (same tables and columns as SQLite's, so `hookd migrate` copies 1:1)
    R"sql(
CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, site TEXT REFERENCES sites(id), role INT NOT NULL, name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE INDEX tokens_site ON tokens(site, id);
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY, site TEXT NOT NULL REFERENCES sites(id), payload_url TEXT NOT NULL, secret TEXT NOT NULL,
  old_secret TEXT, old_secret_until BIGINT NOT NULL DEFAULT 0, events INT NOT NULL, method INT NOT NULL,
  send_everything INT NOT NULL, entities TEXT NOT NULL, description TEXT NOT NULL, enabled INT NOT NULL,
  ordering INT NOT NULL, timeout_ms INT NOT NULL, max_in_flight INT NOT NULL, rate_limit INT,
  disabled_reason TEXT, disabled_at BIGINT, failing_since BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX webhooks_site ON webhooks(site, id);
CREATE TABLE events (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, event INT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
  entity_num INT NOT NULL, created_at BIGINT NOT NULL);
CREATE INDEX events_created ON events(created_at);
CREATE TABLE deliveries (
  seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, site TEXT NOT NULL, webhook_id TEXT NOT NULL,
  event_id TEXT NOT NULL, event INT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL, entity_num INT NOT NULL,
  state INT NOT NULL, attempt_count INT NOT NULL DEFAULT 0, next_at BIGINT, lease_owner TEXT, order_key TEXT,
  last_status INT, last_error INT NOT NULL DEFAULT 0, test INT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 0;
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_order ON deliveries(webhook_id, order_key, seq) WHERE order_key IS NOT NULL AND state = 0;
CREATE INDEX deliveries_leased ON deliveries(webhook_id) WHERE state = 0 AND lease_owner IS NOT NULL;
CREATE INDEX deliveries_created ON deliveries(created_at);
CREATE TABLE attempts (
  delivery_seq BIGINT NOT NULL, number INT NOT NULL, started_at BIGINT NOT NULL, duration_ms BIGINT NOT NULL,
  status INT, error INT NOT NULL, snippet TEXT NOT NULL, PRIMARY KEY (delivery_seq, number));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE idempotency (site TEXT NOT NULL, key TEXT NOT NULL, ids TEXT NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY (site, key));
)sql",
    // 2: audit log
    R"sql(
CREATE TABLE audit (id TEXT PRIMARY KEY, site TEXT NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX audit_site ON audit(site, id);
)sql",
    // 3: per-webhook token buckets shared by all nodes (rateLimitPerSecond across nodes)
    R"sql(
CREATE TABLE webhook_rate (webhook_id TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, refilled_at BIGINT NOT NULL);
)sql",
    // 4: a version per webhook, so an update cannot undo a concurrent disable
    R"sql(
ALTER TABLE webhooks ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
)sql",
    // 5: partitioned ownership (postgres/ownership.hpp): 256 partitions, each webhook in
    // one (assigned once, by hashtext of its id), its deliveries with it; the epochs that
    // fence outcomes; rate limits are the owner's, in memory (no shared bucket).
    R"sql(
ALTER TABLE webhooks ADD COLUMN part INT NOT NULL DEFAULT 0;
UPDATE webhooks SET part = (hashtext(id)::bigint & 255)::int;
ALTER TABLE deliveries ADD COLUMN part INT NOT NULL DEFAULT 0;
UPDATE deliveries d SET part = w.part FROM webhooks w WHERE w.id = d.webhook_id AND d.state = 0;
CREATE INDEX deliveries_part_due ON deliveries(part, next_at) WHERE state = 0;
CREATE TABLE partitions (part INT PRIMARY KEY, epoch BIGINT NOT NULL DEFAULT 0, owner TEXT, since BIGINT);
INSERT INTO partitions(part) SELECT generate_series(0, 255);
DROP TABLE webhook_rate;
)sql",
    // 6: attempts per webhook and UTC hour, written with the attempts (Complete), for the
    // admin page's health charts (same table as SQLite's migration 6).
    R"sql(
CREATE TABLE webhook_hours (
  webhook_id TEXT NOT NULL, hour BIGINT NOT NULL, succeeded BIGINT NOT NULL DEFAULT 0,
  retried BIGINT NOT NULL DEFAULT 0, failed BIGINT NOT NULL DEFAULT 0,
  l0 BIGINT NOT NULL DEFAULT 0, l1 BIGINT NOT NULL DEFAULT 0, l2 BIGINT NOT NULL DEFAULT 0, l3 BIGINT NOT NULL DEFAULT 0,
  l4 BIGINT NOT NULL DEFAULT 0, l5 BIGINT NOT NULL DEFAULT 0, l6 BIGINT NOT NULL DEFAULT 0, l7 BIGINT NOT NULL DEFAULT 0,
  l8 BIGINT NOT NULL DEFAULT 0, l9 BIGINT NOT NULL DEFAULT 0, l10 BIGINT NOT NULL DEFAULT 0, l11 BIGINT NOT NULL DEFAULT 0,
  l12 BIGINT NOT NULL DEFAULT 0, l13 BIGINT NOT NULL DEFAULT 0, l14 BIGINT NOT NULL DEFAULT 0, l15 BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (webhook_id, hour));
CREATE INDEX webhook_hours_hour ON webhook_hours(hour);
)sql",
    // 7: W3C trace context of the request that submitted each event (same columns as
    // SQLite's migration 7); NULL for events from before.
    R"sql(
ALTER TABLE events ADD COLUMN traceparent TEXT, ADD COLUMN tracestate TEXT;
)sql",
    // 8: each partition's owner keeps its due queue in memory (loaded through
    // deliveries_part_due) and leases live in that memory: the global due index and the
    // lease index are no longer read, and every delivery written paid for them.
    R"sql(
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_leased;
)sql",
    // 9: the pending rows' index is usable only by statements that ask for queued rows
    // (pending, not a test message, with a due time: a partition's load, the notices,
    // Stats), no longer by every statement that says `state = 0`. With deliveries_part_due
    // (predicate `state = 0`) the planner answered the claim's read and Complete's UPDATE
    // (by seq, `AND state = 0`) with a full scan of that index once statistics said it was
    // small; while a long transaction holds the xmin horizon the index keeps an entry for
    // every delivery pending since, so each statement walked ~10^6 entries (bench xmin
    // scenario: 15k → 1k deliveries/s). Keyed by seq within the partition: a load reads in
    // queue order without a sort. deliveries_order is not read since migration 8.
    R"sql(
CREATE INDEX deliveries_pending ON deliveries(part, seq) WHERE state = 0 AND test = 0 AND next_at IS NOT NULL;
DROP INDEX IF EXISTS deliveries_part_due;
DROP INDEX IF EXISTS deliveries_order;
)sql",
    // 10: the queued rows move to their own narrow table, `pending` (part, seq): ingest
    // inserts a delivery's row with it, and the statement that takes it out of the queue
    // (its outcome, a cancel) deletes it; a retry or replay puts it back. `deliveries` then
    // has no index on a column the outcome's UPDATE changes (state, next_at named
    // deliveries_pending's predicate), so that UPDATE can be HOT: no new entry in any of
    // its four indexes. HOT needs the new version on the same page, and a page's rows are
    // read (claimed) before their outcomes arrive, so it is not pruned in between: fillfactor
    // 50 leaves room for one more version of each row (80 made 28 % of the updates HOT, 50
    // all; applies to pages filled from now on). A partition's load reads `pending` in (part, seq) order,
    // as it read deliveries_pending; the claim's read and the outcome's UPDATE still go by
    // deliveries_pkey. Every node must run this version: an older one would not queue.
    R"sql(
CREATE TABLE pending (part INT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (part, seq));
INSERT INTO pending(part, seq) SELECT part, seq FROM deliveries WHERE state = 0 AND test = 0 AND next_at IS NOT NULL;
DROP INDEX IF EXISTS deliveries_pending;
ALTER TABLE deliveries SET (fillfactor = 50);
)sql",
};

}  // namespace hookd::store::postgres
