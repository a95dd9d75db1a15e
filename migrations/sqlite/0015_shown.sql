-- Whether a ticket was ever shown to someone: it holds a message that is
-- neither held nor rejected (issue 14: the conversation list, search and
-- the pool ask it of every ticket they look at; asking the messages each
-- time cost a subquery per ticket). Keep in step with
-- migrations/postgres/0015_shown.sql.
--
-- Kept by the store itself, so that no writer can forget it: a message
-- becomes shown when it is stored shown or approved, and never stops being
-- shown (moderation decides only held messages), so the flag only rises.
ALTER TABLE tickets ADD COLUMN shown INTEGER NOT NULL DEFAULT 0;

UPDATE tickets SET shown = 1 WHERE EXISTS (SELECT 1 FROM messages m
    WHERE m.ticket = tickets.number AND m.moderation NOT IN ('held', 'rejected'));

CREATE TRIGGER messages_shown_insert AFTER INSERT ON messages
    WHEN NEW.moderation NOT IN ('held', 'rejected')
BEGIN
    UPDATE tickets SET shown = 1 WHERE number = NEW.ticket AND shown = 0;
END;

CREATE TRIGGER messages_shown_update AFTER UPDATE OF moderation ON messages
    WHEN NEW.moderation NOT IN ('held', 'rejected')
BEGIN
    UPDATE tickets SET shown = 1 WHERE number = NEW.ticket AND shown = 0;
END;
