-- The words of the search index's rows, kept beside the FTS5 tables,
-- which are contentless and cannot give them back (issue 14: a person's
-- search ranks their few tickets in Rust from these words instead of
-- merging the index's lists of every ticket with a common word:
-- src/store/search/person.rs). One row per row written to `search_titles`,
-- `search_names`, `search_shown` or `search_own` (`tbl`: that table), in
-- the same transaction (src/store/search/index.rs); several rows of one
-- id together make its document, as in FTS5. `search_all` is searched
-- only through the index (moderators). PostgreSQL needs no such table:
-- its `tsvector` gives its words back.
CREATE TABLE search_words (
    tbl TEXT NOT NULL,
    id INTEGER NOT NULL,
    words TEXT NOT NULL
);
CREATE INDEX search_words_row ON search_words (tbl, id);

-- The rows indexed before this migration have no words here: the index
-- is made again, with them, by the backfill after migrating
-- (src/store/search/backfill.rs), as after 0013.
INSERT INTO search_titles (search_titles) VALUES ('delete-all');
INSERT INTO search_names (search_names) VALUES ('delete-all');
INSERT INTO search_shown (search_shown) VALUES ('delete-all');
INSERT INTO search_all (search_all) VALUES ('delete-all');
INSERT INTO search_own (search_own) VALUES ('delete-all');
UPDATE search_backfill SET done = 0;
