-- What the outbox worker needs (issue 7). A row is tried when it is
-- pending, due (next_attempt_at <= now) and not leased (lease_until is NULL
-- or past): a worker that crashed between send and record lets its lease
-- expire and the row is sent again (at least once, never zero times).
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
ALTER TABLE outbox ADD COLUMN sent_at BIGINT;
-- The relay's last answer (code and text), or the connection error.
ALTER TABLE outbox ADD COLUMN last_reply TEXT;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
