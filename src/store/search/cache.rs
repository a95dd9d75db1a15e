//! The index's words kept in memory for a person's search (SQLite).
//!
//! A person's search (`person.rs`) matches the words of their few tickets
//! in Rust. Reading those words back from `search_words` was most of its
//! cost (bench/api: 4 of a seller's 10 ms, each search reading the same
//! 136 KB again), so the process keeps them: each document (a table's row
//! of one ticket, or of one participant in `search_own`) as the sorted
//! ids of its distinct words, the words interned once.
//!
//! Kept in step with the store without trusting this process to be its
//! only writer (`parley ingest`, other instances): index rows are only
//! ever added to `search_words`, so every search first reads the rows
//! added since the largest rowid it has applied (the feed: usually none)
//! and merges those of the documents it holds. Documents it lacks are
//! read as of the feed's last row and the feed rewound to that row, so
//! what was written meanwhile is merged by the next search; merging a
//! word twice is harmless (a document is a set). A store whose
//! `search_words` shrank (the index made again after a migration) empties
//! the cache. When the cache passes its size (`[store] search_cache_mb`)
//! it is emptied and fills again with what is searched.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::search::Query;
use crate::store::StoreError;

/// The tables a person's search reads, as `search_words.tbl` names them.
pub(super) const TABLES: [&str; 4] = [
    "search_titles",
    "search_names",
    "search_shown",
    "search_own",
];
/// Index in [`TABLES`] of `search_own` (keyed by participant, not ticket).
pub(super) const OWN: usize = 3;

/// The largest rowid now and the rows added since the largest applied
/// (bound after this) up to [`MOST_FED`] more (bound after
/// [`FEED_UP_TO`]), closed by [`FEED_END`]: one statement, one snapshot.
pub(super) const FEED: &str = "SELECT (SELECT max(rowid) FROM search_words) AS top, \
     (SELECT group_concat(tbl || ' ' || id || ' ' || words, char(10)) FROM search_words \
     WHERE rowid > ";
pub(super) const FEED_UP_TO: &str = " AND rowid <= ";
pub(super) const FEED_END: &str = ") AS rows";

/// Feeds longer than this many rows empty the cache instead of being
/// merged (a burst of writes between two searches: reading documents
/// again as they are searched is cheaper than merging them all).
pub(super) const MOST_FED: i64 = 20_000;

/// A table's documents of some ids as of a rowid, `id words` a line: the
/// statement up to the list of ids, then [`LOAD_UP_TO`] and the rowid.
pub(super) fn load_sql(table: &str) -> String {
    format!(
        "SELECT group_concat(id || ' ' || words, char(10)) AS words FROM search_words \
         WHERE tbl = '{table}' AND id IN "
    )
}
pub(super) const LOAD_UP_TO: &str = " AND rowid <= ";

/// Bytes counted for a document besides its words (map entry, vector).
const DOC_OVERHEAD: usize = 64;
/// Bytes counted for a word of the vocabulary besides its text.
const WORD_OVERHEAD: usize = 64;

/// See the module.
pub(in crate::store) struct WordCache {
    /// Bytes before it empties; 0: no cache (every search reads its words).
    limit: usize,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The largest `search_words` rowid merged into every document held.
    seen: i64,
    vocabulary: BTreeMap<Box<str>, u32>,
    /// By table (index in [`TABLES`]) and id: sorted ids of distinct words.
    docs: HashMap<(usize, i64), Vec<u32>, Ids>,
    /// By person: their tickets in scope as their last search read them
    /// (`number me` pairs), checked by their next search in the same trip
    /// as it reads its hits (`person.rs`).
    scopes: HashMap<Box<str>, Box<str>>,
    size: usize,
}

/// The hash of the documents' keys: ids the store handed out, not chosen
/// by a caller (no flooding to fear), hashed with one multiplication a
/// word (FxHash's) instead of SipHash: a search looks up a few hundred.
#[derive(Clone, Copy, Default)]
struct Ids;

impl std::hash::BuildHasher for Ids {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
    fn write_i64(&mut self, word: i64) {
        self.write_u64(word as u64);
    }
}

/// A query's term as word ids.
enum Term {
    /// A whole word; `None`: no document held has it.
    Word(Option<u32>),
    /// The last term: the few words it starts (each looked up in a
    /// document by bisection).
    Few(Vec<u32>),
    /// The last term starting many words: a bit per word of the vocabulary
    /// (each word of a document tested).
    Many(Vec<u64>),
}

/// Above this many words, a prefix is a [`Term::Many`].
const FEW: usize = 16;

impl Term {
    fn prefix(ids: Vec<u32>, vocabulary: usize) -> Term {
        if ids.len() <= FEW {
            return Term::Few(ids);
        }
        let mut bits = vec![0u64; vocabulary.div_ceil(64)];
        for id in ids {
            bits[id as usize / 64] |= 1 << (id % 64);
        }
        Term::Many(bits)
    }

    fn in_doc(&self, doc: &[u32]) -> bool {
        match self {
            Term::Word(Some(id)) => doc.binary_search(id).is_ok(),
            Term::Word(None) => false,
            Term::Few(ids) => ids.iter().any(|id| doc.binary_search(id).is_ok()),
            Term::Many(bits) => doc
                .iter()
                .any(|id| bits[*id as usize / 64] & (1 << (id % 64)) != 0),
        }
    }
}

/// Where a ticket's words were found, as [`super::Matched`] ranks it;
/// `None` when a word is in none of the texts the person may search.
pub(super) type Tier = Option<super::Matched>;

impl WordCache {
    pub(in crate::store) fn new(megabytes: u64) -> WordCache {
        WordCache {
            limit: usize::try_from(megabytes.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            inner: RwLock::default(),
        }
    }

    /// A cache for one search's documents, without bound: how a search
    /// that keeps no words (PostgreSQL, or the cache off) ranks the words
    /// it read, by the same rules (`person.rs`).
    pub(super) fn unbounded() -> WordCache {
        WordCache {
            limit: usize::MAX,
            inner: RwLock::default(),
        }
    }

    /// Whether searches use it.
    pub(super) fn enabled(&self) -> bool {
        self.limit > 0
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The rowid to read the feed from.
    pub(super) fn seen(&self) -> i64 {
        self.read().seen
    }

    /// Merges the feed read from `from` ([`WordCache::seen`] then): rows
    /// `tbl id words` a line, up to `top` (the largest rowid then; `None`
    /// when the feed was too long to read).
    pub(super) fn feed(&self, from: i64, top: i64, rows: Option<&str>) -> Result<(), StoreError> {
        let mut inner = self.write();
        let Some(rows) = rows.filter(|_| top >= from) else {
            // The table shrank (made again), or too much to merge.
            *inner = Inner {
                seen: top,
                ..Inner::default()
            };
            return Ok(());
        };
        for line in rows.lines() {
            let (table, id, words) = parse_line(line, true)?;
            if let Some(mut doc) = inner.docs.remove(&(table, id)) {
                let before = doc.len();
                inner.merge(&mut doc, words);
                inner.size += (doc.len() - before) * 4;
                inner.docs.insert((table, id), doc);
            }
        }
        // Another search may have moved it: back (documents read as of an
        // earlier row) or on; either way its rows are merged or will be.
        if inner.seen == from {
            inner.seen = top;
        }
        Ok(())
    }

    /// The scope `address`'s last search read ([`WordCache::keep_scope`]).
    pub(super) fn scope(&self, address: &str) -> Option<Box<str>> {
        self.read().scopes.get(address).cloned()
    }

    /// Keeps the scope a search of `address` read, to check against the next.
    pub(super) fn keep_scope(&self, address: &str, listed: &str) {
        let mut inner = self.write();
        // Full: what is kept is what the next searches need.
        if inner.size > self.limit {
            inner.empty();
        }
        let size = DOC_OVERHEAD + address.len() + listed.len();
        if let Some(old) = inner.scopes.insert(address.into(), listed.into()) {
            inner.size -= DOC_OVERHEAD + address.len() + old.len();
        }
        inner.size += size;
    }

    /// Of `tickets` (a person's: number and their participant row there),
    /// the tickets and participants whose documents are not held (a
    /// ticket's: all of titles, names and shown).
    pub(super) fn missing(&self, tickets: &[(i64, i64)]) -> (Vec<i64>, Vec<i64>) {
        let inner = self.read();
        let numbers = tickets
            .iter()
            .map(|(number, _)| *number)
            .filter(|id| (0..OWN).any(|t| !inner.docs.contains_key(&(t, *id))))
            .collect();
        let participants = tickets
            .iter()
            .map(|(_, me)| *me)
            .filter(|id| !inner.docs.contains_key(&(OWN, *id)))
            .collect();
        (numbers, participants)
    }

    /// Ranks a person's `tickets` (newest first: number and their
    /// participant row there) for `query`, after adding `loaded`: the
    /// documents of the ids [`WordCache::missing`] named. `None` when a
    /// document is not held (emptied meanwhile: search again).
    pub(super) fn rank(
        &self,
        query: &Query,
        tickets: &[(i64, i64)],
        loaded: Option<Loaded<'_>>,
    ) -> Result<Option<Vec<Tier>>, StoreError> {
        match loaded {
            Some(loaded) => {
                let mut inner = self.write();
                inner.load(loaded, self.limit)?;
                Ok(inner.rank(query, tickets))
            }
            None => Ok(self.read().rank(query, tickets)),
        }
    }
}

/// Documents read for [`WordCache::rank`]: by table, `id words` a line
/// (an id without a line has no words there).
pub(super) struct Loaded<'a> {
    /// The rowid they were read as of.
    pub top: i64,
    pub tickets: &'a [i64],
    pub participants: &'a [i64],
    /// By table ([`TABLES`]): `id words` a line.
    pub rows: [Option<&'a str>; 4],
}

/// `tbl id words` (with `table`) or `id words`.
fn parse_line(line: &str, table: bool) -> Result<(usize, i64, &str), StoreError> {
    let corrupt = || StoreError::Corrupt(format!("search words: {line:?}"));
    let (t, rest) = match table {
        true => {
            let (name, rest) = line.split_once(' ').ok_or_else(corrupt)?;
            let t = TABLES.iter().position(|t| *t == name);
            (t, rest)
        }
        false => (Some(0), line),
    };
    let (id, words) = rest.split_once(' ').unwrap_or((rest, ""));
    let id = id.parse::<i64>().map_err(|_| corrupt())?;
    // `search_all`'s rows are not kept there; an unknown table is skipped.
    Ok((t.unwrap_or(usize::MAX), id, words))
}

impl Inner {
    fn merge(&mut self, doc: &mut Vec<u32>, words: &str) {
        for word in words.split(' ').filter(|w| !w.is_empty()) {
            let id = match self.vocabulary.get(word) {
                Some(id) => *id,
                None => {
                    let id = self.vocabulary.len() as u32;
                    self.vocabulary.insert(word.into(), id);
                    self.size += WORD_OVERHEAD + word.len();
                    id
                }
            };
            doc.push(id);
        }
        doc.sort_unstable();
        doc.dedup();
    }

    /// Everything but where the feed stands, as when full.
    fn empty(&mut self) {
        tracing::info!(
            documents = self.docs.len(),
            words = self.vocabulary.len(),
            scopes = self.scopes.len(),
            bytes = self.size,
            "the search word cache is full ([store] search_cache_mb): emptied"
        );
        *self = Inner {
            seen: self.seen,
            ..Inner::default()
        };
    }

    fn load(&mut self, loaded: Loaded<'_>, limit: usize) -> Result<(), StoreError> {
        if self.size > limit {
            self.empty();
        }
        let mut docs: HashMap<(usize, i64), Vec<u32>, Ids> = HashMap::default();
        for id in loaded.tickets {
            for t in 0..OWN {
                docs.insert((t, *id), Vec::new());
            }
        }
        for id in loaded.participants {
            docs.insert((OWN, *id), Vec::new());
        }
        for (t, rows) in loaded.rows.iter().enumerate() {
            for line in rows.unwrap_or("").lines() {
                let (_, id, words) = parse_line(line, false)?;
                if let Some(mut doc) = docs.remove(&(t, id)) {
                    self.merge(&mut doc, words);
                    docs.insert((t, id), doc);
                }
            }
        }
        for (key, doc) in docs {
            self.size += DOC_OVERHEAD + doc.len() * 4;
            if let Some(old) = self.docs.insert(key, doc) {
                self.size -= DOC_OVERHEAD + old.len() * 4;
            }
        }
        // What was added after `top` is merged by the next feed.
        self.seen = self.seen.min(loaded.top);
        Ok(())
    }

    fn rank(&self, query: &Query, tickets: &[(i64, i64)]) -> Option<Vec<Tier>> {
        let terms: Vec<Term> = (0..query.terms().len())
            .map(|i| {
                let term = query.terms()[i].as_str();
                match query.is_prefix(i) {
                    true => Term::prefix(
                        self.vocabulary
                            .range::<str, _>((Bound::Included(term), Bound::Unbounded))
                            .take_while(|(word, _)| word.starts_with(term))
                            .map(|(_, id)| *id)
                            .collect(),
                        self.vocabulary.len(),
                    ),
                    false => Term::Word(self.vocabulary.get(term).copied()),
                }
            })
            .collect();
        let mut tiers = Vec::with_capacity(tickets.len());
        for (number, me) in tickets {
            let doc = |t: usize, id: &i64| self.docs.get(&(t, *id));
            let (titles, names) = (doc(0, number)?, doc(1, number)?);
            let searched = [doc(2, number)?, doc(OWN, me)?];
            let every = |docs: &[&Vec<u32>]| terms.iter().all(|t| docs.iter().any(|d| t.in_doc(d)));
            let tier = if !every(&searched) {
                None
            } else if every(&[titles]) {
                Some(super::Matched::Title)
            } else if every(&[names]) {
                Some(super::Matched::Person)
            } else {
                Some(super::Matched::Message)
            };
            tiers.push(tier);
        }
        Some(tiers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Matched;

    fn ranks(cache: &WordCache, text: &str, tickets: &[(i64, i64)]) -> Option<Vec<Tier>> {
        cache
            .rank(&Query::parse(text).unwrap(), tickets, None)
            .unwrap()
    }

    fn load(cache: &WordCache, top: i64, tickets: &[i64], participants: &[i64], rows: [&str; 4]) {
        let query = Query::parse("x").unwrap();
        let loaded = Loaded {
            top,
            tickets,
            participants,
            rows: rows.map(Some),
        };
        cache.rank(&query, &[], Some(loaded)).unwrap();
    }

    #[test]
    fn ranks_as_the_index_does_and_merges_the_feed() {
        let cache = WordCache::new(1);
        let both = [(1, 10), (2, 20)];
        assert_eq!(cache.missing(&both), (vec![1, 2], vec![10, 20]));
        load(
            &cache,
            5,
            &[1, 2],
            &[10, 20],
            [
                "1 walnut sideboard\n2 oak",
                "1 walnut sideboard anna",
                "1 walnut sideboard anna shipping\n2 oak",
                "10 cash",
            ],
        );
        assert_eq!(cache.missing(&both), (vec![], vec![]));
        assert_eq!(
            cache.seen(),
            0,
            "documents read as of 5: the feed from 0 again"
        );
        let one = |text| ranks(&cache, text, &[(1, 10)]).unwrap()[0];
        assert_eq!(one("walnut"), Some(Matched::Title));
        assert_eq!(one("sideboard wal"), Some(Matched::Title));
        assert_eq!(one("anna walnut"), Some(Matched::Person));
        assert_eq!(one("shipping anna"), Some(Matched::Message));
        // Their own words count, in the last tier; only the last word is a prefix.
        assert_eq!(one("cash walnut"), Some(Matched::Message));
        assert_eq!(one("wal sideboard"), None);
        assert_eq!(one("zebra"), None);
        // A word added to a held document by another writer.
        cache
            .feed(
                0,
                7,
                Some("search_shown 1 zebra\nsearch_shown 3 lost\nsearch_all 1 x"),
            )
            .unwrap();
        assert_eq!(cache.seen(), 7);
        assert_eq!(one("zebra"), Some(Matched::Message));
        // Ticket 3's document is not held: not made up from the feed.
        assert_eq!(cache.missing(&[(3, 20)]), (vec![3], vec![]));
        assert_eq!(
            ranks(&cache, "oak", &both).unwrap(),
            vec![None, Some(Matched::Title)]
        );
        // Not held: no answer rather than a wrong one.
        assert_eq!(ranks(&cache, "oak", &[(3, 20)]), None);
        // A prefix of many words (a bit per word of the vocabulary).
        let many: String = (0..40).map(|i| format!(" wax{i}")).collect();
        let row = format!("4 {many}");
        load(&cache, 9, &[4], &[40], [&row, &row, &row, ""]);
        assert_eq!(
            ranks(&cache, "wa", &[(4, 40)]).unwrap(),
            vec![Some(Matched::Title)]
        );
        assert_eq!(
            ranks(&cache, "wax3", &[(4, 40)]).unwrap(),
            vec![Some(Matched::Title)]
        );
        assert_eq!(
            ranks(&cache, "wa", &[(1, 10)]).unwrap(),
            vec![Some(Matched::Title)]
        );
        assert_eq!(ranks(&cache, "wb", &[(4, 40)]).unwrap(), vec![None]);
    }

    #[test]
    fn a_shrunk_table_or_a_long_feed_empties_it() {
        let cache = WordCache::new(1);
        load(&cache, 5, &[1], &[], ["1 a", "", "1 a", ""]);
        cache.feed(0, 5, Some("")).unwrap();
        assert_eq!(cache.seen(), 5);
        cache.feed(5, 3, Some("")).unwrap();
        assert_eq!((cache.seen(), cache.missing(&[(1, 9)]).0), (3, vec![1]));
        load(&cache, 3, &[1], &[], ["1 a", "", "1 a", ""]);
        cache.feed(3, 90_000, None).unwrap();
        assert_eq!(
            (cache.seen(), cache.missing(&[(1, 9)]).0),
            (90_000, vec![1])
        );
    }

    #[test]
    fn scopes_kept_count_towards_its_size() {
        let cache = WordCache::new(1);
        let listed = "1 2,".repeat(1_000);
        for i in 0..400 {
            cache.keep_scope(&format!("p{i}@x"), &listed);
        }
        assert!(cache.scope("p399@x").is_some());
        assert!(cache.scope("p0@x").is_none(), "emptied on the way");
        assert!(cache.read().size <= (1 << 20) + 5_000);
    }

    #[test]
    fn past_its_size_it_empties_before_loading() {
        let cache = WordCache::new(1);
        let many: String = (0..20_000).map(|i| format!(" w{i}")).collect();
        load(&cache, 1, &[1], &[], [&format!("1 {many}"), "", "", ""]);
        load(&cache, 1, &[2], &[], ["2 b", "", "", ""]);
        assert_eq!(
            cache.missing(&[(1, 9), (2, 9)]).0,
            vec![1],
            "emptied, then 2 loaded"
        );
    }
}
