-- The search index (issue 14, src/store/search.rs): the words of each
-- ticket's subject and listing and auction titles, of each participant's
-- name and address, and of each message, as src/search.rs makes them
-- (folded, lowercase, joined by single spaces), so that both backends
-- find the same rows. Keep in step with migrations/postgres/0013_search.sql.
--
-- Contentless FTS5 tables (the text stays in tickets, participants and
-- messages), rowid the row's id, no positions (no phrase queries: every
-- word is matched alone). The `ascii` tokenizer splits on spaces only for
-- this text: src/search.rs made the words. Rows are only ever added:
-- a participant's name and a ticket's titles do not change, and a
-- message's visible text appears once, when it is shown (at once, or on
-- a moderator's approval).

-- A ticket's subject, listing title and auction title; rowid: its number.
CREATE VIRTUAL TABLE search_titles USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- A participant's display name and address; rowid: the participant.
CREATE VIRTUAL TABLE search_people USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- A message's text as the other party sees it (src/moderation.rs,
-- visible_text); none while it is held, never when rejected. rowid: the
-- message.
CREATE VIRTUAL TABLE search_visible USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- The words of a message as written that its visible text lacks (what a
-- mask took; all of it while held): what moderators and its author find
-- it by besides. rowid: the message.
CREATE VIRTUAL TABLE search_hidden USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');

-- Whether the rows stored before this migration are indexed: the store
-- indexes them in Rust after migrating (the words are made there), once.
CREATE TABLE search_backfill (done INTEGER NOT NULL);
INSERT INTO search_backfill (done) VALUES (0);
