//! The abuse list: harassment, hate and threats, as configured words and
//! phrases.
//!
//! Rule `abuse`, value the configured phrase. Matching is case-insensitive,
//! on whole words and phrases ("idiot" does not hit "idiotic"), and
//! tolerant of the cheap disguises: repeated letters ("iiidiooot"),
//! simple leetspeak (`1d10t`, `@ss`, `$hit`: a/4/@, e/3, i/1/!, o/0, s/5/$,
//! t/7, l/1, b/8, g/9), letters inside a word masked by `*`, `#`, `%` or
//! `?` ("f*ck off", "b**ch", "c#nt"; the first and last letter of each
//! word stay) and any run of blanks, dots, dashes, underscores or
//! asterisks between the words of a phrase ("kill-you", "kill   you"). A
//! phrase that starts or ends with a non-ASCII letter is matched without
//! a word boundary on that side (ASCII boundaries keep the regex fast;
//! see MEASURED.md).
//!
//! All phrases form one regex: one pass over the text; a match (rare) is
//! then named by the first phrase whose own regex matches all of it.

use regex::Regex;

use super::{Category, Hit};

/// A compiled phrase list.
pub struct Phrases {
    /// One alternation of all phrases, without groups (the fast search);
    /// `None` when the list is empty.
    regex: Option<Regex>,
    /// Each phrase's own regex, anchored, to name the phrase a match is.
    each: Vec<Regex>,
    /// The configured phrases, in the same order.
    phrases: Vec<String>,
}

impl Phrases {
    /// Compiles `list` (empty and blank entries are skipped).
    pub fn new(list: &[String]) -> Phrases {
        let phrases: Vec<String> = list
            .iter()
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty())
            .collect();
        if phrases.is_empty() {
            return Phrases {
                regex: None,
                each: Vec::new(),
                phrases,
            };
        }
        let patterns: Vec<String> = phrases.iter().map(|p| pattern(p)).collect();
        // ASCII phrases need no Unicode case folding (a smaller automaton).
        let ascii = phrases.iter().all(|p| p.is_ascii());
        let regex = regex::RegexBuilder::new(&patterns.join("|"))
            .case_insensitive(true)
            .unicode(!ascii)
            .build()
            .expect("the phrase patterns are escaped");
        let each = patterns
            .iter()
            .map(|p| {
                Regex::new(&format!("(?i)^(?:{p})$")).expect("the phrase patterns are escaped")
            })
            .collect();
        Phrases {
            regex: Some(regex),
            each,
            phrases,
        }
    }

    /// Appends a hit for each listed phrase in `text` to `hits`.
    pub fn detect(&self, text: &str, hits: &mut Vec<Hit>) {
        let Some(regex) = &self.regex else {
            return;
        };
        for m in regex.find_iter(text) {
            // The first phrase (in list order) that is the whole match.
            let Some(i) = self.each.iter().position(|r| r.is_match(m.as_str())) else {
                continue;
            };
            hits.push(Hit {
                rule: "abuse",
                category: Category::Abuse,
                start: m.start(),
                end: m.end(),
                value: self.phrases[i].clone(),
            });
        }
    }
}

/// What masks a letter inside a word: "f*ck", "f**k off", "c#nt", "a%%hole".
const MASKS: &str = r"*#%?";

/// The regex for one phrase: each letter repeatable and with its look-alikes,
/// a letter inside a word also masked ([`MASKS`]; the first and the last
/// letter of each word stay, so a word of masks alone is nobody's),
/// separators between words, ASCII word boundaries at ASCII ends.
fn pattern(phrase: &str) -> String {
    let mut out = String::new();
    let first = phrase.chars().next().unwrap_or(' ');
    let last = phrase.chars().next_back().unwrap_or(' ');
    if first.is_ascii_alphanumeric() {
        out.push_str(r"(?-u:\b)");
    }
    let lower = phrase.to_lowercase();
    let mut chars = lower.chars().peekable();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        // A run of the same letter is one repeatable letter.
        while chars.peek() == Some(&c) {
            chars.next();
        }
        if c == ' ' {
            out.push_str(r"[\s.\-_*]+");
            word_start = true;
            continue;
        }
        let inside = !word_start && chars.peek().is_some_and(|n| *n != ' ') && c.is_alphabetic();
        word_start = false;
        if inside {
            let class = match look_alikes(c) {
                "" => regex::escape(&c.to_string()),
                class => class[1..class.len() - 1].to_string(),
            };
            out.push_str(&format!("[{class}{}]+", regex::escape(MASKS)));
            continue;
        }
        let class = look_alikes(c);
        if class.is_empty() {
            out.push_str(&regex::escape(&c.to_string()));
            out.push('+');
        } else {
            out.push_str(class);
            out.push('+');
        }
    }
    if last.is_ascii_alphanumeric() {
        out.push_str(r"(?-u:\b)");
    }
    out
}

/// The class of `c` and the characters that stand for it (leetspeak), or
/// "" for a letter without look-alikes.
fn look_alikes(c: char) -> &'static str {
    match c {
        'a' => "[a4@]",
        'e' => "[e3]",
        'i' => "[i1!|]",
        'o' => "[o0]",
        's' => r"[s5$]",
        't' => "[t7]",
        'l' => "[l1|]",
        'b' => "[b8]",
        'g' => "[g9]",
        _ => "",
    }
}

/// A short, sober default: threats, the common insults, a few slurs. The
/// admin extends it in `config/policy.toml`.
pub fn default_list() -> Vec<String> {
    [
        // Threats.
        "kill you",
        "kill yourself",
        "kys",
        "i will find you",
        "i know where you live",
        "you are dead",
        "you're dead",
        "burn your house",
        "watch your back",
        "hope you die",
        "deserve to die",
        "rape",
        // Insults.
        "idiot",
        "moron",
        "imbecile",
        "dumbass",
        "asshole",
        "bitch",
        "cunt",
        "fuck you",
        "fuck off",
        "motherfucker",
        "piece of shit",
        "scumbag",
        // Hate without a slur.
        "go back to your country",
        "go back where you came from",
        "go back to where you came from",
        "subhuman",
        "you people are animals",
        // Slurs.
        "retard",
        "faggot",
        "nigger",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[cfg(test)]
mod tests;
