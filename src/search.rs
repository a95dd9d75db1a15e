//! Text search: what a word is, what a query asks, and the snippet a hit
//! shows. Pure rules; the index and its SQL are
//! [`crate::store::SearchStore`] (`src/store/search.rs`).
//!
//! One tokeniser for both backends. SQLite's FTS5 (`unicode61
//! remove_diacritics 2`) and PostgreSQL's text search parser (`simple`)
//! split text differently (PostgreSQL keeps `maria@buyer.example` whole,
//! FTS5 makes three words of it) and PostgreSQL folds no accents without
//! the `unaccent` extension, which parley does not require. So the words
//! are made here, once, by [`tokens`]: runs of letters and digits,
//! accents removed (Unicode decomposition, combining marks dropped, a few
//! letters spelled out: `ß` → `ss`, `æ` → `ae`, `ø` → `o`), lowercased,
//! cut at [`MAX_TOKEN`] characters. The store indexes the words joined by
//! single spaces, which neither backend splits further (FTS5's `ascii`
//! tokenizer splits on ASCII punctuation and spaces only; PostgreSQL takes
//! the words as lexemes with `array_to_tsvector`, unparsed), and queries
//! with the same words: the same text finds the same rows on both.
//!
//! A query ([`Query::parse`]) is the user's text cut into words the same
//! way: whatever it holds (quotes, `*`, `:`, `&`, `NEAR`, parentheses), it
//! is never passed to FTS5 or `tsquery` as syntax; every word must match
//! (AND), the last as a prefix (search as you type).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The longest word kept, in characters (longer ones are cut: a longer
/// query word then matches as its cut prefix).
pub const MAX_TOKEN: usize = 64;
/// The longest query, in characters.
pub const MAX_QUERY: usize = 200;
/// The most words a query may hold.
pub const MAX_TERMS: usize = 8;
/// About how many characters a snippet holds.
const SNIPPET: usize = 160;

/// The words of `text`, folded: lowercase, accents removed.
pub fn tokens(text: &str) -> Vec<String> {
    // ASCII (most mail): no decomposition, no marks, one byte a letter.
    if text.is_ascii() {
        return text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(|word| word[..word.len().min(MAX_TOKEN)].to_ascii_lowercase())
            .collect();
    }
    unicode_tokens(text)
}

/// [`tokens`] of any text.
fn unicode_tokens(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut push = |word: &mut String| {
        if !word.is_empty() {
            words.push(cut(std::mem::take(word)));
        }
    };
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            fold(c, &mut word);
        } else {
            push(&mut word);
        }
    }
    push(&mut word);
    words
}

/// The words of `text` as the index holds them: [`tokens`] joined by
/// single spaces.
pub fn normalize(text: &str) -> String {
    tokens(text).join(" ")
}

/// `c` (a letter or digit, decomposed) lowercased, with the letters that
/// do not decompose spelled out.
fn fold(c: char, into: &mut String) {
    match c {
        'ß' | 'ẞ' => into.push_str("ss"),
        'æ' | 'Æ' => into.push_str("ae"),
        'œ' | 'Œ' => into.push_str("oe"),
        'ø' | 'Ø' => into.push('o'),
        'ł' | 'Ł' => into.push('l'),
        'đ' | 'Đ' | 'ð' | 'Ð' => into.push('d'),
        'þ' | 'Þ' => into.push_str("th"),
        'ı' => into.push('i'),
        c => into.extend(c.to_lowercase()),
    }
}

fn cut(word: String) -> String {
    match word.char_indices().nth(MAX_TOKEN) {
        Some((at, _)) => word[..at].to_string(),
        None => word,
    }
}

/// The words of `original` not among those of `visible`: what the index
/// keeps of a message beside its visible text, for moderators and the
/// message's author (who search what was written).
pub fn hidden_words(original: &str, visible: Option<&str>) -> String {
    let shown: std::collections::HashSet<String> = visible
        .map(tokens)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut seen = std::collections::HashSet::new();
    tokens(original)
        .into_iter()
        .filter(|w| !shown.contains(w) && seen.insert(w.clone()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parsed query: its words, each to be found; the last as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    terms: Vec<String>,
}

/// Why a query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is empty")]
    Empty,
    #[error("the query is longer than {MAX_QUERY} characters")]
    TooLong,
    #[error("the query has more than {MAX_TERMS} words")]
    TooManyWords,
}

impl Query {
    /// The user's text as a query. Empty (or blank) and over-long text is
    /// refused; text without a letter or digit is a query with no words,
    /// which finds nothing.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.trim().is_empty() {
            return Err(QueryError::Empty);
        }
        if text.chars().count() > MAX_QUERY {
            return Err(QueryError::TooLong);
        }
        let mut terms: Vec<String> = Vec::new();
        for word in tokens(text) {
            if !terms.contains(&word) {
                terms.push(word);
            }
        }
        if terms.len() > MAX_TERMS {
            return Err(QueryError::TooManyWords);
        }
        Ok(Query { terms })
    }

    /// Its words, in order.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether it finds nothing (no words).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether term `i` matches as a prefix (the last one).
    pub fn is_prefix(&self, i: usize) -> bool {
        i + 1 == self.terms.len()
    }

    /// Whether `word` (one of [`tokens`]) matches term `i`.
    pub(crate) fn matches(&self, i: usize, word: &str) -> bool {
        match self.is_prefix(i) {
            true => word.starts_with(&self.terms[i]),
            false => word == self.terms[i],
        }
    }

    /// Whether a word of `text` matches one of the terms.
    pub fn found_in(&self, text: &str) -> bool {
        tokens(text)
            .iter()
            .any(|w| (0..self.terms.len()).any(|i| self.matches(i, w)))
    }

    /// A short piece of `text` around the first word that matches a term
    /// (its start when none does), cut at word boundaries, `…` where cut.
    pub fn snippet(&self, text: &str) -> String {
        let words = spans(text);
        let found = words
            .iter()
            .position(|(_, _, w)| (0..self.terms.len()).any(|i| self.matches(i, w)));
        let Some(first) = found else {
            return clip(text);
        };
        // A few words of context before the match.
        let start = match first.saturating_sub(6) {
            0 => 0,
            w => words[w].0,
        };
        let mut end = text.len();
        for &(_, e, _) in &words[first..] {
            if e - start > SNIPPET {
                end = e;
                break;
            }
        }
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.push_str(&squash(&text[start..end]));
        if end < text.len() && !text[end..].trim().is_empty() {
            out.push('…');
        }
        out
    }
}

/// (start, end, folded word) of each word of `text`, by byte offsets.
fn spans(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let inside = c.is_alphanumeric() || is_combining_mark(c);
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i, normalize(&text[s..i])));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len(), normalize(&text[s..])));
    }
    out
}

/// Whitespace runs as one space.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to about [`SNIPPET`] characters at a word boundary.
fn clip(text: &str) -> String {
    let text = squash(text);
    if text.chars().count() <= SNIPPET {
        return text;
    }
    let cut: String = text.chars().take(SNIPPET).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_text_is_cut_as_any_text() {
        let long = "x".repeat(MAX_TOKEN + 9);
        for text in [
            "",
            "Hello, WORLD! it's 10:30 -- call me@shop.example (ok?)",
            "  tabs\tand\nnew lines\r\n__under_scores__ 2x4 a-b",
            &format!("{long} tail"),
        ] {
            assert_eq!(tokens(text), unicode_tokens(text), "{text:?}");
        }
    }

    #[test]
    fn words_are_folded_alike() {
        assert_eq!(
            tokens("Zoë's Crème-Brûlée, STRASSE Straße! maria@Buyer.example +49 (0)30"),
            [
                "zoe", "s", "creme", "brulee", "strasse", "strasse", "maria", "buyer", "example",
                "49", "0", "30"
            ]
        );
        assert_eq!(normalize("  Ærø  Łódź "), "aero lodz");
        assert_eq!(tokens("日本語 テキスト"), ["日本語", "テキスト"]);
        assert_eq!(tokens(&"x".repeat(100))[0].len(), MAX_TOKEN);
        assert!(tokens("*:&|!()\"'<->").is_empty());
    }

    #[test]
    fn queries_are_words_never_syntax() {
        let q = Query::parse(r#"  "Oak" AND sideboard:* NEAR(x) -y"#).unwrap();
        assert_eq!(q.terms(), ["oak", "and", "sideboard", "near", "x", "y"]);
        assert!(q.is_prefix(5) && !q.is_prefix(0));
        assert_eq!(Query::parse("\"*:"), Ok(Query { terms: vec![] }));
        assert_eq!(Query::parse("  "), Err(QueryError::Empty));
        assert_eq!(Query::parse(&"a".repeat(201)), Err(QueryError::TooLong));
        assert_eq!(
            Query::parse("a b c d e f g h i"),
            Err(QueryError::TooManyWords)
        );
        // Repeated words count once.
        assert_eq!(Query::parse("oak Oak OAK").unwrap().terms(), ["oak"]);
    }

    #[test]
    fn hidden_words_are_what_the_mask_took() {
        assert_eq!(
            hidden_words("call me at 0612 345", Some("call me at [phone removed]")),
            "0612 345"
        );
        assert_eq!(hidden_words("held text text", None), "held text");
    }

    #[test]
    fn snippets_show_the_match() {
        let q = Query::parse("sideb").unwrap();
        assert_eq!(
            q.snippet("Is the oak sideboard\n still there?"),
            "Is the oak sideboard still there?"
        );
        let long = format!(
            "{} the sideboard is here {}",
            "word ".repeat(60),
            "tail ".repeat(60)
        );
        let s = q.snippet(&long);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("sideboard"), "{s}");
        assert!(s.chars().count() < 240, "{s}");
        assert_eq!(
            Query::parse("zzz").unwrap().snippet("short text"),
            "short text"
        );
    }
}
