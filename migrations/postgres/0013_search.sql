-- The search index (issue 14, src/store/search.rs): the words of each
-- ticket's subject and listing and auction titles, of each participant's
-- name and address, and of each message, as src/search.rs makes them
-- (folded, lowercase, joined by single spaces), so that both backends
-- find the same rows. Keep in step with migrations/sqlite/0013_search.sql.
--
-- `doc` holds the words as lexemes, unparsed and without positions
-- (array_to_tsvector(string_to_array(words, ' '))): PostgreSQL's own
-- parser would split them unlike SQLite. A GIN index each. Rows are only
-- ever added: a participant's name and a ticket's titles do not change,
-- and a message's visible text appears once, when it is shown (at once,
-- or on a moderator's approval).

-- A ticket's subject, listing title and auction title; id: its number.
CREATE TABLE search_titles (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_titles_doc ON search_titles USING GIN (doc);
-- A participant's display name and address; id: the participant.
CREATE TABLE search_people (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_people_doc ON search_people USING GIN (doc);
-- A message's text as the other party sees it (src/moderation.rs,
-- visible_text); none while it is held, never when rejected. id: the
-- message.
CREATE TABLE search_visible (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_visible_doc ON search_visible USING GIN (doc);
-- The words of a message as written that its visible text lacks (what a
-- mask took; all of it while held): what moderators and its author find
-- it by besides. id: the message.
CREATE TABLE search_hidden (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_hidden_doc ON search_hidden USING GIN (doc);

-- Whether the rows stored before this migration are indexed: the store
-- indexes them in Rust after migrating (the words are made there), once.
CREATE TABLE search_backfill (done BIGINT NOT NULL);
INSERT INTO search_backfill (done) VALUES (0);
