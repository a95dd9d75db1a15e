-- Fewer indexes for a message to touch (issue 18): messages_ticket
-- (ticket, id) is a prefix of messages_unread (ticket, id, moderation,
-- author), which serves every query the first one did.
DROP INDEX IF EXISTS messages_ticket;
