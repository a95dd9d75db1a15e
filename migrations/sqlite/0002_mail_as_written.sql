-- Read mail as people write it: auto-generated mail, bounces, attachments.
-- Keep in step with migrations/postgres/0002_mail_as_written.sql.

-- A participant whose address bounced: notifications to it failed.
ALTER TABLE participants ADD COLUMN failing_since INTEGER;
ALTER TABLE participants ADD COLUMN failing_reason TEXT;

-- none | auto_reply | list: what kind of sender wrote the message.
ALTER TABLE messages ADD COLUMN auto TEXT NOT NULL DEFAULT 'none';
-- The quoted history and signature cut from reply_text, kept for moderators.
ALTER TABLE messages ADD COLUMN elided TEXT NOT NULL DEFAULT '';

-- Attachment contents, once per distinct content.
CREATE TABLE attachments (
    sha256     TEXT PRIMARY KEY,
    bytes      BLOB NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- The attachments of a message. `sha256` is NULL when the content was over
-- a size limit and not kept (its metadata still is).
CREATE TABLE message_attachments (
    id           INTEGER PRIMARY KEY,
    message      INTEGER NOT NULL REFERENCES messages(id),
    sha256       TEXT REFERENCES attachments(sha256),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_id   TEXT,
    inline       INTEGER NOT NULL DEFAULT 0,
    flags        TEXT NOT NULL DEFAULT '' -- space-separated, e.g. executable
);
CREATE INDEX message_attachments_message ON message_attachments(message);
