-- What the other party sees of a message a moderator let through: the
-- policy's `redact` spans stay masked unless the moderator says otherwise.
-- Keep in step with the other backend's 0008_approval.sql.

-- reply_text with every span masked whose action is `redact` (not `hold`
-- or stronger: those are what a moderator judges): what the other party
-- sees of a message shown, unless a moderator approved it `--redact`
-- (redacted_text) or `--as-written` (reply_text). NULL: no such span.
-- Rows from before get the redacted text, which never shows more than
-- they showed.
ALTER TABLE messages ADD COLUMN masked_text TEXT;
UPDATE messages SET masked_text = redacted_text;

-- How an approved message is shown: masked (masked_text), redacted
-- (redacted_text) or as_written (reply_text); NULL unless approved. The
-- moderation column keeps its values (approved, approved_redacted).
-- Approvals from before showed the text as written.
ALTER TABLE messages ADD COLUMN approved_as TEXT
    CHECK (approved_as IN ('masked', 'redacted', 'as_written'));
UPDATE messages SET approved_as = 'as_written' WHERE moderation = 'approved';
UPDATE messages SET approved_as = 'redacted' WHERE moderation = 'approved_redacted';
