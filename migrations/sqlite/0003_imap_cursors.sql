-- The IMAP poller's place in each mailbox: the UIDVALIDITY it last saw and
-- the highest UID whose message is committed. A new UIDVALIDITY starts the
-- mailbox over (duplicates are then recognised, not stored again).
CREATE TABLE imap_cursors (
    mailbox     TEXT PRIMARY KEY,   -- the mailbox's key: user@host:port/folder
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
