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
//! Words of four letters or more also match spelt out ("f u c k",
//! "c.u.n.t"), and `@` and `$` mask too ("f@ck").
//!
//! With the built-in list come sentence frames ([`frames`]): abuse written
//! without a listed word ("I will stab you", "you fat ugly cow", "all X
//! are thieves"), named `threat`, `insult`, `hate`, `sexual`, `doxxing` or
//! `self-harm` in the hit.
//!
//! All phrases and frames form one regex: one pass over the text; a match
//! (rare) is then named by the first phrase whose own regex matches all of
//! it.

mod frames;

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
    /// Whether the regexes match in Unicode mode (a phrase beyond ASCII).
    unicode: bool,
}

impl Phrases {
    /// Compiles `list` (empty and blank entries are skipped).
    pub fn new(list: &[String]) -> Phrases {
        Phrases::build(list, Vec::new())
    }

    /// `list`, the built-in list ([`default_list`]) and the sentences of
    /// abuse the built-in list comes with ([`frames`]): what the policy
    /// uses with `default_list = true`.
    pub fn built_in(list: &[String]) -> Phrases {
        let mut all = list.to_vec();
        all.extend(default_list());
        Phrases::build(&all, frames::frames())
    }

    fn build(list: &[String], frames: Vec<(&'static str, String)>) -> Phrases {
        let mut phrases: Vec<String> = list
            .iter()
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty())
            .collect();
        if phrases.is_empty() && frames.is_empty() {
            return Phrases {
                regex: None,
                each: Vec::new(),
                phrases,
                unicode: false,
            };
        }
        let mut patterns: Vec<String> = phrases.iter().map(|p| pattern(p)).collect();
        // ASCII phrases need no Unicode case folding (a smaller automaton);
        // the frames are written for either mode.
        let ascii = phrases.iter().all(|p| p.is_ascii());
        for (name, frame) in frames {
            patterns.push(frame);
            phrases.push(name.to_string());
        }
        let regex = regex::RegexBuilder::new(&patterns.join("|"))
            .case_insensitive(true)
            .unicode(!ascii)
            .build()
            .expect("the phrase patterns are escaped");
        let each = patterns
            .iter()
            .map(|p| {
                regex::RegexBuilder::new(&format!("^(?:{p})$"))
                    .case_insensitive(true)
                    .unicode(!ascii)
                    .build()
                    .expect("the phrase patterns are escaped")
            })
            .collect();
        Phrases {
            regex: Some(regex),
            each,
            phrases,
            unicode: !ascii,
        }
    }

    /// The one alternation of all phrases and whether it is matched in
    /// Unicode mode (case-insensitive either way); `None` for no phrases.
    pub fn pattern(&self) -> Option<(&str, bool)> {
        self.regex.as_ref().map(|r| (r.as_str(), self.unicode))
    }

    /// Appends a hit for each listed phrase in `text` to `hits`.
    pub fn detect(&self, text: &str, hits: &mut Vec<Hit>) {
        let Some(regex) = &self.regex else {
            return;
        };
        hits.extend(regex.find_iter(text).filter_map(|m| self.hit(m)));
    }

    /// Appends a hit for each listed phrase that starts in one of `windows`
    /// of `text` (in order, not overlapping; [`super::screen`] found them).
    pub(super) fn detect_in(&self, text: &str, windows: &[(usize, usize)], hits: &mut Vec<Hit>) {
        let Some(regex) = &self.regex else {
            return;
        };
        let mut pos = 0;
        for &(start, end) in windows {
            pos = pos.max(start);
            while let Some(m) = regex.find_at(&text[..end], pos) {
                pos = if m.is_empty() { m.end() + 1 } else { m.end() };
                hits.extend(self.hit(m));
                while pos < end && !text.is_char_boundary(pos) {
                    pos += 1;
                }
                if pos >= end {
                    break;
                }
            }
        }
    }

    /// The hit a match of the alternation is, named by the first phrase (in
    /// list order) that is all of it.
    fn hit(&self, m: regex::Match) -> Option<Hit> {
        // Look-alikes make a short word of digits read as one ("n194" as a
        // slur, a model number): a word needs two letters.
        if m.as_str().chars().filter(|c| c.is_alphabetic()).count() < 2 {
            return None;
        }
        let i = self.each.iter().position(|r| r.is_match(m.as_str()))?;
        Some(Hit {
            rule: "abuse",
            category: Category::Abuse,
            start: m.start(),
            end: m.end(),
            value: self.phrases[i].clone(),
        })
    }
}

/// What masks a letter inside a word: "f*ck", "f**k off", "c#nt", "a%%hole",
/// "f@ck".
const MASKS: &str = r"*#%?@$";

/// What may stand between the letters of a word spelt out ("f u c k",
/// "c.u.n.t") and between the words of a phrase.
const SEPARATORS: &str = r"[\s.\-_*]";

/// The regex for one phrase: each word as [`word`], separators between
/// words, ASCII word boundaries at ASCII ends.
fn pattern(phrase: &str) -> String {
    let mut out = String::new();
    let first = phrase.chars().next().unwrap_or(' ');
    let last = phrase.chars().next_back().unwrap_or(' ');
    if first.is_ascii_alphanumeric() {
        out.push_str(r"(?-u:\b)");
    }
    let words: Vec<String> = phrase.split(' ').map(word).collect();
    out.push_str(&words.join(&format!("{SEPARATORS}+")));
    if last.is_ascii_alphanumeric() {
        out.push_str(r"(?-u:\b)");
    }
    out
}

/// The regex for one word, without boundaries: each letter repeatable and
/// with its look-alikes, a letter inside the word also masked ([`MASKS`];
/// the first and the last letter stay, so a word of masks alone is
/// nobody's); a word of four letters or more also spelt out with one
/// separator after each letter ("f u c k", "c.u.n.t").
pub(super) fn word(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut letters: Vec<char> = lower.chars().collect();
    // A run of the same letter is one repeatable letter.
    letters.dedup();
    let class = |c: char| match look_alikes(c) {
        "" => regex::escape(&c.to_string()),
        class => class.to_string(),
    };
    let mut plain = String::new();
    for (i, &c) in letters.iter().enumerate() {
        let inside = i > 0 && i + 1 < letters.len() && c.is_alphabetic();
        if inside {
            let set = match look_alikes(c) {
                "" => regex::escape(&c.to_string()),
                class => class[1..class.len() - 1].to_string(),
            };
            plain.push_str(&format!("[{set}{}]+", regex::escape(MASKS)));
        } else {
            plain.push_str(&class(c));
            plain.push('+');
        }
    }
    if lower.chars().count() < 4 || !lower.chars().all(char::is_alphabetic) {
        return plain;
    }
    let spaced: Vec<String> = lower.chars().map(class).collect();
    format!("(?:{plain}|{})", spaced.join(SEPARATORS))
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
        'u' => "[uv]",
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
        "you will pay for this",
        "you'll pay for this",
        "hunt you down",
        "sleep with one eye open",
        "your days are numbered",
        "ruin your life",
        "you won't see it coming",
        "beat the crap out of you",
        "beat the shit out of you",
        "put you in hospital",
        "put you in the hospital",
        "ich bring dich um",
        "ich mach dich fertig",
        "je vais te tuer",
        "te voy a matar",
        "ti ammazzo",
        "die in a fire",
        "hope you get cancer",
        "you should die",
        "don't deserve to live",
        "slit your wrists",
        "unalive yourself",
        "kill urself",
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
        "fuck you",
        "fck you",
        "fk you",
        "fuk you",
        "fck off",
        "fk off",
        "fuk off",
        "stfu",
        "gtfo",
        "screw you",
        "piss off",
        "go to hell",
        "eat shit",
        "son of a bitch",
        "shithead",
        "dipshit",
        "douchebag",
        "jackass",
        "lowlife",
        "waste of space",
        "waste of oxygen",
        "human garbage",
        "halfwit",
        "cretin",
        "vollidiot",
        "missgeburt",
        "ta gueule",
        "pauvre con",
        "hijo de puta",
        "coglione",
        "kankerlijer",
        // Hate without a slur.
        "go back to your country",
        "go back where you came from",
        "go back to where you came from",
        "subhuman",
        "you people are animals",
        "should be deported",
        "should be gassed",
        "hitler was right",
        "heil hitler",
        "not welcome in this country",
        "ausländer raus",
        // Slurs.
        "retard",
        "faggot",
        "faggots",
        "nigger",
        "niggers",
        "nigga",
        "retards",
        "kike",
        "kikes",
        "wetback",
        "wetbacks",
        "raghead",
        "towelhead",
        "gypo",
        "pikey",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[cfg(test)]
mod tests;
