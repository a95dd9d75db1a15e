-- Read markers and the conversation list (issue 14, docs/http.md
-- "Conversations"). Keep in step with migrations/sqlite/0012_read_markers.sql.

-- How far a person has read a ticket: every message up to `horizon` (a
-- message id) is read. One row per (ticket, address); the horizon only
-- moves forward (src/store/reads.rs). A person's unread messages are the
-- ones after it they may see and did not write (crate::access::counts_as_unread).
CREATE TABLE read_markers (
    ticket  BIGINT NOT NULL REFERENCES tickets(number),
    address TEXT NOT NULL,
    horizon BIGINT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (ticket, address)
);

-- The list by recency (last activity: `updated_at`, then the number, the
-- keyset of its cursor), for everyone, a queue and an assignee.
CREATE INDEX tickets_recent ON tickets(updated_at, number);
CREATE INDEX tickets_queue_recent ON tickets(queue_id, updated_at, number);
CREATE INDEX tickets_assignee_recent ON tickets(assignee, updated_at, number)
    WHERE assignee IS NOT NULL;
-- The trash (few rows: a partial index, used when a query asks for
-- `deleted_at IS NOT NULL`).
CREATE INDEX tickets_trash ON tickets(updated_at, number) WHERE deleted_at IS NOT NULL;
-- A listing's and an auction's conversations.
CREATE INDEX tickets_item ON tickets(item_ref) WHERE item_ref IS NOT NULL;
CREATE INDEX tickets_auction ON tickets(auction_ref) WHERE auction_ref IS NOT NULL;
-- Unread counts read a ticket's messages after a horizon, each's
-- moderation and author: covered by this index, the messages' text is
-- never read for them (a seller's unread total over 10,000 conversations:
-- about 2x faster than through messages_ticket).
CREATE INDEX messages_unread ON messages(ticket, id, moderation, author);
-- A person's conversations (participants has UNIQUE (ticket, address)).
CREATE INDEX participants_address ON participants(address, ticket);
-- A staff address's queues.
CREATE INDEX queue_addresses_address ON queue_addresses(address, kind);
