-- The search index (issue 14, src/store/search.rs): the words of each
-- ticket as src/search.rs makes them (folded, lowercase, joined by single
-- spaces), so that both backends find the same rows. Keep in step with
-- migrations/postgres/0013_search.sql.
--
-- One document per ticket and table (rowid: the ticket's number), so that
-- FTS5 itself finds the tickets holding every word of a query, wherever
-- in the ticket each one is. Contentless (the text stays in tickets,
-- participants and messages), no positions (every word is matched alone:
-- no phrases). Words are only ever added: a write inserts the new words
-- of a ticket under its number again, and FTS5 reads every row of one
-- rowid as one document (with `detail = 'none'` a word is present or
-- not; segments merging keep it present). The `ascii` tokenizer splits on
-- spaces only for this text: src/search.rs made the words.

-- The subject, the listing's and the auction's titles.
CREATE VIRTUAL TABLE search_titles USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- Those and every participant's name and address.
CREATE VIRTUAL TABLE search_names USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- Those and the text of every message as the parties are shown it
-- (src/moderation.rs, visible_text): none of a held or rejected message,
-- the masked text of a redacted one. What the marketplace and the parties
-- search.
CREATE VIRTUAL TABLE search_shown USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- Those and every message as written, held and rejected ones too: what
-- moderators search.
CREATE VIRTUAL TABLE search_all USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');
-- By participant (rowid: the participant): the words of their own
-- messages that search_shown lacks (what a mask took, a held message):
-- what they find besides.
CREATE VIRTUAL TABLE search_own USING fts5(doc, content = '', detail = 'none', tokenize = 'ascii');

-- A person's search starts from their tickets by address: the index
-- participants_address (address, ticket) of migration 0012.

-- Whether the rows stored before this migration are indexed: the store
-- indexes them in Rust after migrating (the words are made there), once.
CREATE TABLE search_backfill (done INTEGER NOT NULL);
INSERT INTO search_backfill (done) VALUES (0);
