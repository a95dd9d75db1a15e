-- parley schema, SQLite. Keep in step with migrations/postgres/0001_init.sql:
-- same tables, same columns, same meaning. Times are Unix milliseconds (UTC).

-- A queue is a seller or a desk: where new conversations land.
CREATE TABLE queues (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Addresses of a queue: `intake` opens tickets, `staff` answers them.
-- An intake address belongs to one queue; a staff address may serve many.
CREATE TABLE queue_addresses (
    queue_id INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('intake', 'staff')),
    address  TEXT NOT NULL,
    PRIMARY KEY (queue_id, kind, address)
);
CREATE UNIQUE INDEX queue_intake_address ON queue_addresses(address) WHERE kind = 'intake';

-- AUTOINCREMENT: a ticket number is never handed out twice.
CREATE TABLE tickets (
    number        INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id      INTEGER NOT NULL REFERENCES queues(id),
    subject       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'awaiting_client', 'awaiting_seller', 'resolved', 'closed')),
    assignee      TEXT,
    item_ref      TEXT,
    item_title    TEXT,
    auction_ref   TEXT,
    auction_title TEXT,
    -- dedupe key of the message that opened the ticket: a retried delivery
    -- of that message does not open a second ticket in the same queue.
    origin_key    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    archived      INTEGER NOT NULL DEFAULT 0,
    deleted_at    INTEGER
);
CREATE UNIQUE INDEX tickets_origin ON tickets(queue_id, origin_key) WHERE origin_key IS NOT NULL;
CREATE INDEX tickets_status ON tickets(status, updated_at);
CREATE INDEX tickets_created ON tickets(created_at);

CREATE TABLE participants (
    id           INTEGER PRIMARY KEY,
    ticket       INTEGER NOT NULL REFERENCES tickets(number),
    address      TEXT NOT NULL,
    display_name TEXT,
    role         TEXT NOT NULL CHECK (role IN ('client', 'seller', 'staff')),
    created_at   INTEGER NOT NULL,
    UNIQUE (ticket, address)
);

-- Exactly the bytes that arrived, once per distinct content.
CREATE TABLE raw_messages (
    id            INTEGER PRIMARY KEY,
    sha256        BLOB NOT NULL UNIQUE,
    bytes         BLOB NOT NULL,
    envelope_from TEXT,
    envelope_to   TEXT NOT NULL, -- JSON array of addresses
    source        TEXT NOT NULL CHECK (source IN ('smtp', 'imap', 'pipe')),
    received_at   INTEGER NOT NULL
);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    ticket      INTEGER NOT NULL REFERENCES tickets(number),
    author      INTEGER REFERENCES participants(id),
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    reply_text  TEXT NOT NULL,
    html        TEXT,
    raw_id      INTEGER REFERENCES raw_messages(id),
    message_id  TEXT,
    -- sha256 over Message-ID and body: the same mail delivered twice (a
    -- retry after a lost 250, an IMAP re-fetch) lands once per ticket.
    dedupe_key  TEXT NOT NULL,
    matched_by  TEXT NOT NULL,
    flags       TEXT NOT NULL DEFAULT '', -- space-separated, e.g. sender_mismatch
    created_at  INTEGER NOT NULL,
    UNIQUE (ticket, dedupe_key)
);
CREATE INDEX messages_ticket ON messages(ticket, id);

-- Every Message-ID parley put on a mail it sends; replies naming one thread
-- to its ticket.
CREATE TABLE issued_message_ids (
    message_id  TEXT PRIMARY KEY,
    ticket      INTEGER NOT NULL REFERENCES tickets(number),
    participant INTEGER REFERENCES participants(id),
    created_at  INTEGER NOT NULL
);

-- Notifications to send, written in the same transaction as the change
-- they announce. A later worker claims, sends and retries them.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    ticket      INTEGER NOT NULL REFERENCES tickets(number),
    message     INTEGER REFERENCES messages(id),
    participant INTEGER NOT NULL REFERENCES participants(id),
    recipient   TEXT NOT NULL,
    token       TEXT NOT NULL,
    message_id  TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox(state, id);
CREATE INDEX outbox_ticket ON outbox(ticket);

CREATE TABLE quarantine (
    id         INTEGER PRIMARY KEY,
    raw_id     INTEGER NOT NULL REFERENCES raw_messages(id),
    reason     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    ticket  INTEGER,
    message INTEGER,
    detail  TEXT NOT NULL DEFAULT '{}' -- JSON object
);
CREATE INDEX audit_ticket ON audit_log(ticket, id);
