-- The durable event log (issue 14, docs/flow.md "The event log"): every
-- change a person could see, appended in the transaction that makes it.
-- Live streams (GET /api/v1/events), webhooks and other instances read it
-- in id order and resume after the last id they saw.
--
-- AUTOINCREMENT: an id is never handed out twice, even after old events
-- are pruned, so a reader's "after this id" stays meaningful. SQLite has
-- one writer at a time (BEGIN IMMEDIATE), so ids commit in order.
--
-- `audience` says who besides the ticket's access rules narrows it
-- (src/access.rs, `sees_event`): 'ticket' (whoever may see the ticket),
-- 'seller' (its seller side, the marketplace and moderators), 'held'
-- (moderators and `person`, the held message's author), 'reader' (`person`
-- alone: a read marker). `data` is a JSON object safe for every viewer the
-- audience admits: ids and states, never a message's text.
-- Keep in step with migrations/postgres/0011_events.sql.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    ticket   INTEGER NOT NULL,
    message  INTEGER,
    actor    TEXT NOT NULL,
    data     TEXT NOT NULL DEFAULT '{}',
    audience TEXT NOT NULL DEFAULT 'ticket',
    person   TEXT
);
