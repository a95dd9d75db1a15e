-- Response times (issue 15). Keep in step with
-- migrations/sqlite/0019_response_times.sql, which says what each column
-- means.
ALTER TABLE tickets ADD COLUMN waiting_since BIGINT;
ALTER TABLE tickets ADD COLUMN first_response_at BIGINT;
ALTER TABLE tickets ADD COLUMN reminded_at BIGINT;

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

CREATE FUNCTION parley_ticket_waiting() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('open', 'awaiting_seller') THEN
        IF TG_OP = 'INSERT' THEN
            NEW.waiting_since := NEW.created_at;
        ELSIF OLD.status NOT IN ('open', 'awaiting_seller') THEN
            NEW.waiting_since := NEW.updated_at;
            NEW.reminded_at := NULL;
        END IF;
    ELSE
        NEW.waiting_since := NULL;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tickets_waiting BEFORE INSERT OR UPDATE OF status ON tickets
    FOR EACH ROW EXECUTE FUNCTION parley_ticket_waiting();

CREATE FUNCTION parley_first_response() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM participants p WHERE p.id = NEW.author AND p.role <> 'client') THEN
        -- Primary-key lookups only (see the SQLite file): the plan a
        -- function caches stays right during a bulk load.
        UPDATE tickets SET first_response_at = NEW.created_at
         WHERE number = NEW.ticket AND first_response_at IS NULL
           AND waiting_since IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER messages_first_response AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.moderation NOT IN ('held', 'rejected') AND NEW.author IS NOT NULL)
    EXECUTE FUNCTION parley_first_response();
