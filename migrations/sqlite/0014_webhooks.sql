-- Webhooks (issue 14, docs/webhooks.md): the events the marketplace
-- backend may see, POSTed to each `[[webhooks]]` URL through a durable
-- outbox of their own.
--
-- `webhook_cursors`: per webhook (by its configured name), the last event
-- id already turned into deliveries (or passed over). A webhook seen for
-- the first time starts at the newest event: it does not replay history.
--
-- `webhook_deliveries`: one row per (webhook, event), written in the
-- transaction that moves the cursor past the event; `payload` is the
-- exact JSON body POSTed. A row is tried when it is pending, due
-- (next_attempt_ms <= now) and not leased (lease_until_ms NULL or past),
-- as the mail outbox's rows are; `last_error` and `last_error_ms` keep the
-- last failed try's answer and time (also once it was delivered later). UNIQUE (webhook, event): an event is
-- queued once per webhook, even by two instances on one store.
-- Keep in step with migrations/postgres/0014_webhooks.sql.
CREATE TABLE webhook_cursors (
    webhook    TEXT PRIMARY KEY,
    last_event INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook         TEXT NOT NULL,
    event           INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    lease_until_ms  INTEGER,
    state           TEXT NOT NULL DEFAULT 'pending',
    last_error      TEXT,
    last_error_ms   INTEGER,
    created_ms      INTEGER NOT NULL,
    delivered_ms    INTEGER,
    UNIQUE (webhook, event)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(webhook, state, next_attempt_ms);
