-- The operator desk (issue 15): whether an operator is available, and a
-- queue's greeting and offline answer as edited in the console. Keep in
-- step with migrations/sqlite/0018_desk.sql (which says more). There is
-- no PostgreSQL 0017: SQLite's keeps the search index's words, which a
-- tsvector gives back here.
ALTER TABLE console_users ADD COLUMN available BIGINT NOT NULL DEFAULT 1;

CREATE TABLE queue_texts (
    queue_id   BIGINT PRIMARY KEY REFERENCES queues(id),
    greeting   TEXT,
    offline    TEXT,
    changed_by TEXT NOT NULL,
    changed_ms BIGINT NOT NULL
);
