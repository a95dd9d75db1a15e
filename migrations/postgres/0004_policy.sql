-- The content policy's verdict on each message, and the moderation of the
-- messages it held. Keep in step with the other backend's 0004_policy.sql.

-- allow | redact | hold | reject: the strongest action of the policy's hits
-- (and `hold` for a message held by threading, e.g. sender_mismatch).
ALTER TABLE messages ADD COLUMN policy_action TEXT NOT NULL DEFAULT 'allow';
-- The hits as a JSON array of {rule, category, field, start, end, text}.
ALTER TABLE messages ADD COLUMN policy_hits TEXT NOT NULL DEFAULT '[]';
-- reply_text with the hits' spans masked: what the other party sees when
-- the policy redacted or a moderator approved redacted. NULL: no hit.
ALTER TABLE messages ADD COLUMN redacted_text TEXT;
-- none (never held) | held (waits for a moderator) | approved |
-- approved_redacted | rejected. Decisions are in the audit log.
ALTER TABLE messages ADD COLUMN moderation TEXT NOT NULL DEFAULT 'none'
    CHECK (moderation IN ('none', 'held', 'approved', 'approved_redacted', 'rejected'));
CREATE INDEX messages_held ON messages(moderation, id) WHERE moderation = 'held';
