-- Throttles (issue 7): a new-message notification held back by a throttle
-- is coalesced into a later one to the same participant on the same
-- ticket, which announces both. The coalesced row names its carrier here,
-- is never claimed itself, and takes the carrier's outcome when the
-- carrier is recorded.
ALTER TABLE outbox ADD COLUMN coalesced_into BIGINT;
CREATE INDEX outbox_coalesced ON outbox(coalesced_into);
-- "How many notifications did this address get in the last hour?"
CREATE INDEX outbox_recipient_sent ON outbox(recipient, sent_at);
