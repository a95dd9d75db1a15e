-- The operator desk (issue 15): whether an operator is available, and a
-- queue's greeting and offline answer as edited in the console. Keep in
-- step with migrations/postgres/0018_desk.sql.
--
-- While a queue has operator accounts (console users of role operator
-- whose login is a staff address of the queue) and none of them is
-- available, a client's message is answered with the queue's offline
-- answer, as outside working hours (src/store/tickets/batch.rs).
ALTER TABLE console_users ADD COLUMN available INTEGER NOT NULL DEFAULT 1;

-- A queue's texts as the console set them; NULL: the config's
-- (`greeting`, `hours.after_hours_message`). Every change is in the
-- audit log (`queue.texts`, no ticket).
CREATE TABLE queue_texts (
    queue_id   INTEGER PRIMARY KEY REFERENCES queues(id),
    greeting   TEXT,
    offline    TEXT,
    changed_by TEXT NOT NULL,
    changed_ms INTEGER NOT NULL
);
