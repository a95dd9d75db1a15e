-- The console's accounts and their sessions (issue 15, docs/console.md).
-- Keep in step with migrations/postgres/0016_console.sql.

-- A person who works in the console pages. `login` is an email address
-- (normalized): a seller's staff and operators work as that address (the
-- tickets they see are the ones that address sees: a participant, or a
-- staff address of the queue, crate::access); moderators and admins see
-- every ticket. `password_hash`: argon2id, PHC string.
CREATE TABLE console_users (
    id            INTEGER PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    display_name  TEXT,
    role          TEXT NOT NULL CHECK (role IN ('seller', 'operator', 'moderator', 'admin')),
    password_hash TEXT NOT NULL,
    disabled_ms   INTEGER,
    created_ms    INTEGER NOT NULL
);

-- A logged-in browser: the SHA-256 of its cookie's random value (the
-- value itself is never stored), the form token of its pages, and when it
-- ends.
CREATE TABLE console_sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES console_users(id),
    csrf         TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);
