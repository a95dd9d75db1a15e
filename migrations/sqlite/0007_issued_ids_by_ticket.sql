-- The outbox worker reads, for every notification, the Message-IDs issued
-- on its ticket to its recipient (References, `Store::thread_ids`).
-- Without this index that read scanned every issued ID ever written: one
-- full scan per notification sent (bench/outbox). Numbered 0007: main
-- holds 0006 (outbox throttles) already.
CREATE INDEX issued_message_ids_ticket ON issued_message_ids(ticket, participant);
