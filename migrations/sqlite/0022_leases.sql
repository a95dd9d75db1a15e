-- Leases: work that one instance of `parley serve` does at a time when
-- several share one store (each IMAP mailbox is polled by one of them).
-- A lease names the work, its holder (an instance's id) and when it runs
-- out unless renewed; a holder that dies loses it at expiry and another
-- instance takes it over.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,    -- e.g. imap:user@host:port/folder
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL     -- Unix ms
);
