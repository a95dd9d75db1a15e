-- Threading rule 3 (src/intake/thread.rs) looks a reply's In-Reply-To and
-- References up among the Message-IDs of the inbound messages stored on
-- tickets (a client's follow-up to their own first mail). Without this
-- index that lookup scanned every message. Partial: messages written in
-- parley carry an issued Message-ID, found in issued_message_ids instead.
-- Keep in step with migrations/postgres/0009_inbound_message_ids.sql.
CREATE INDEX messages_inbound_message_id ON messages(message_id)
    WHERE direction = 'inbound' AND message_id IS NOT NULL;
