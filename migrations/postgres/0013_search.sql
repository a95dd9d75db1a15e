-- The search index (issue 14, src/store/search.rs): the words of each
-- ticket as src/search.rs makes them (folded, lowercase, joined by single
-- spaces), so that both backends find the same rows. Keep in step with
-- migrations/sqlite/0013_search.sql.
--
-- One row per ticket and table (id: the ticket's number), its words as
-- lexemes, unparsed and without positions
-- (array_to_tsvector(string_to_array(words, ' ')): PostgreSQL's own
-- parser would split them unlike SQLite), a GIN index each. Words are
-- only ever added: a write merges the new words of a ticket into its row
-- (`doc || excluded.doc`).

-- The subject, the listing's and the auction's titles.
CREATE TABLE search_titles (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_titles_doc ON search_titles USING GIN (doc);
-- Those and every participant's name and address.
CREATE TABLE search_names (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_names_doc ON search_names USING GIN (doc);
-- Those and the text of every message as the parties are shown it
-- (src/moderation.rs, visible_text): none of a held or rejected message,
-- the masked text of a redacted one. What the marketplace and the parties
-- search.
CREATE TABLE search_shown (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_shown_doc ON search_shown USING GIN (doc);
-- Those and every message as written, held and rejected ones too: what
-- moderators search.
CREATE TABLE search_all (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_all_doc ON search_all USING GIN (doc);
-- By participant (id: the participant): the words of their own messages
-- that search_shown lacks (what a mask took, a held message): what they
-- find besides.
CREATE TABLE search_own (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_own_doc ON search_own USING GIN (doc);

-- A person's search starts from their tickets by address: the index
-- participants_address (address, ticket) of migration 0012.

-- Whether the rows stored before this migration are indexed: the store
-- indexes them in Rust after migrating (the words are made there), once.
CREATE TABLE search_backfill (done BIGINT NOT NULL);
INSERT INTO search_backfill (done) VALUES (0);
