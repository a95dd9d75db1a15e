-- Starting conversations over HTTP (issue 14, docs/http.md "Starting a
-- conversation"). Keep in step with migrations/sqlite/0011_compose.sql.
--
-- The listing's page on the marketplace, beside its ref and title.
ALTER TABLE tickets ADD COLUMN item_url TEXT;
-- The marketplace's own id of the person, beside their address.
ALTER TABLE participants ADD COLUMN user_id TEXT;

-- Idempotency-Key of the API's POSTs (src/store/idempotency.rs): one row
-- per caller and key. `owner` is the API key's or user's subject plus the
-- person it acts as; `request_sha256` the hash of the request (method,
-- path, query, body), so the same key with another request is refused;
-- `status` 0 while the request is in flight, else the answer's HTTP
-- status with its `body`. Rows older than 24 hours are ignored and pruned.
CREATE TABLE api_idempotency (
    owner          TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status         BIGINT NOT NULL DEFAULT 0,
    body           TEXT NOT NULL DEFAULT '',
    created_ms     BIGINT NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_ms);
