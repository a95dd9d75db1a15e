-- The durable event log (issue 14, docs/flow.md "The event log"): every
-- change a person could see, appended in the transaction that makes it.
-- Live streams (GET /api/v1/events), webhooks and other instances read it
-- in id order and resume after the last id they saw.
--
-- Ids must become visible in id order, or a reader that has seen id 12
-- would never see an id 11 committed after it. Writers run concurrently
-- here, so every transaction that appends events takes
-- pg_advisory_xact_lock (src/store/postgres.rs, EVENT_ORDER_LOCK) just
-- before its INSERT and holds it to its commit: ids are drawn and committed
-- one transaction at a time.
--
-- `audience`, `person` and `data`: see migrations/sqlite/0011_events.sql.
-- Keep in step with it.
CREATE TABLE events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    ticket   BIGINT NOT NULL,
    message  BIGINT,
    actor    TEXT NOT NULL,
    data     TEXT NOT NULL DEFAULT '{}',
    audience TEXT NOT NULL DEFAULT 'ticket',
    person   TEXT
);
