-- Response times (issue 15): since when a ticket waits on the seller side,
-- when the seller side first answered a client, and when its assignee (or
-- the queue's staff) was last reminded that it waits longer than the
-- queue's target (src/store/response.rs). Keep in step with
-- migrations/postgres/0019_response_times.sql.
--
-- Kept by the store itself, as `shown` (0015), so that no writer can
-- forget them:
-- - `waiting_since`: set when a ticket enters a status where the ball is
--   with the seller side (`open`, `awaiting_seller`), to that moment;
--   cleared when it leaves them; unchanged while it stays (a client who
--   writes three times waits since the first);
-- - `reminded_at`: when the reminder of this waiting period was written;
--   cleared when a new period starts.
-- - `first_response_at`: the first shown message of the seller side on
--   the ticket while it waits for them (a conversation the seller side
--   opened has none until the client wrote and was answered).
ALTER TABLE tickets ADD COLUMN waiting_since INTEGER;
ALTER TABLE tickets ADD COLUMN first_response_at INTEGER;
ALTER TABLE tickets ADD COLUMN reminded_at INTEGER;

-- Tickets waiting already count as reminded at the start of their wait:
-- an upgrade marks them overdue on the dashboard but sends no flood of
-- reminders for old waits; the next waiting period is reminded.
UPDATE tickets SET waiting_since = updated_at, reminded_at = updated_at
 WHERE status IN ('open', 'awaiting_seller');
UPDATE tickets SET first_response_at = (
    SELECT MIN(m.created_at) FROM messages m JOIN participants p ON p.id = m.author
     WHERE m.ticket = tickets.number AND p.role <> 'client'
       AND m.moderation NOT IN ('held', 'rejected')
       AND EXISTS (SELECT 1 FROM messages c JOIN participants cp ON cp.id = c.author
                    WHERE c.ticket = tickets.number AND cp.role = 'client' AND c.id < m.id));

CREATE INDEX tickets_waiting ON tickets(waiting_since) WHERE waiting_since IS NOT NULL;

CREATE TRIGGER tickets_waiting_insert AFTER INSERT ON tickets
    WHEN NEW.status IN ('open', 'awaiting_seller')
BEGIN
    UPDATE tickets SET waiting_since = NEW.created_at WHERE number = NEW.number;
END;

CREATE TRIGGER tickets_waiting_starts AFTER UPDATE OF status ON tickets
    WHEN NEW.status IN ('open', 'awaiting_seller')
     AND OLD.status NOT IN ('open', 'awaiting_seller')
BEGIN
    UPDATE tickets SET waiting_since = NEW.updated_at, reminded_at = NULL
     WHERE number = NEW.number;
END;

CREATE TRIGGER tickets_waiting_ends AFTER UPDATE OF status ON tickets
    WHEN NEW.status NOT IN ('open', 'awaiting_seller')
BEGIN
    UPDATE tickets SET waiting_since = NULL
     WHERE number = NEW.number AND waiting_since IS NOT NULL;
END;

-- A seller-side message on a ticket that waits for them (stored before
-- the status moves) is its first response when it has none: primary-key
-- lookups only, so a message's insert costs the same however long its
-- ticket (no scan of the ticket's messages, whose plan a bulk load could
-- make a sequential one).
CREATE TRIGGER messages_first_response AFTER INSERT ON messages
    WHEN NEW.moderation NOT IN ('held', 'rejected')
     AND EXISTS (SELECT 1 FROM participants p WHERE p.id = NEW.author AND p.role <> 'client')
BEGIN
    UPDATE tickets SET first_response_at = NEW.created_at
     WHERE number = NEW.ticket AND first_response_at IS NULL AND waiting_since IS NOT NULL;
END;
