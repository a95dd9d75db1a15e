-- The signature of a message (issue 16), as reply extraction found it
-- (src/intake/reply/mod.rs, `Reply::signature`): the closing the author
-- wrote, which stays at the end of `reply_text` ("Thanks,\nMaria"), then a
-- signature under a delimiter and the mail client's sign-off ("-- \n…",
-- "Sent from my iPhone"), which `reply_text` does not hold (they are in
-- `elided`). A reader may fold the closing away. Messages stored before
-- this have none. Keep in step with the other backend's 0020_signature.sql.
ALTER TABLE messages ADD COLUMN signature TEXT NOT NULL DEFAULT '';
