-- Retention (`parley purge`) and erasure (`parley erase`) ask which
-- messages hold a raw mail before they delete it: without this index each
-- asking read every message.
CREATE INDEX messages_raw ON messages(raw_id) WHERE raw_id IS NOT NULL;
