use super::*;

/// The hits of payment and the phrases run one after the other, and
/// through the screen.
fn both(phrases: &abuse::Phrases, text: &str) -> (Vec<Hit>, Vec<Hit>) {
    let mut alone = Vec::new();
    payment::detect(text, &mut alone);
    phrases.detect(text, &mut alone);
    let mut screened = Vec::new();
    Screen::new(phrases).detect(text, phrases, &mut screened);
    (alone, screened)
}

/// The texts of a fixture set (tab-separated, the text last).
fn texts(path: &str) -> Vec<String> {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let all = std::fs::read_to_string(&file).expect("fixture");
    all.lines()
        .skip(1)
        .filter_map(|l| l.rsplit('\t').next())
        .map(|t| t.replace("\\n", "\n"))
        .collect()
}

#[test]
fn the_screen_finds_what_the_detectors_find_alone() {
    let built_in = abuse::Phrases::built_in(&[]);
    let ascii = abuse::Phrases::new(&["idiot".to_string(), "pay me".to_string()]);
    let empty = abuse::Phrases::new(&[]);
    let mut corpus: Vec<String> = [
        "contact/marketplace.tsv",
        "contact/inhouse_dev.tsv",
        "abuse/inhouse.tsv",
    ]
    .iter()
    .flat_map(|p| texts(p))
    .collect();
    // Overlaps: a phrase inside or across a payment match, and the other way.
    corpus.extend(
        [
            "fuck off the platform, pay me via zelle you idiot",
            "you idiot, deal directly with me and avoid the fees",
            "PayPal friends and family or I will find you",
            "send it as a gift on paypal, asshole",
            "Ausländer raus, pay by bank transfer",
            "",
            "no payment or abuse here at all, 12.50 EUR",
        ]
        .map(String::from),
    );
    // A long text: matches far apart, windows that merge.
    corpus.push(corpus.join("\n"));
    let (mut payment_hits, mut abuse_hits) = (0, 0);
    for phrases in [&built_in, &ascii, &empty] {
        for text in &corpus {
            let (alone, screened) = both(phrases, text);
            assert_eq!(alone, screened, "{text:?}");
            payment_hits += alone
                .iter()
                .filter(|h| h.category == super::super::Category::Payment)
                .count();
            abuse_hits += alone
                .iter()
                .filter(|h| h.category == super::super::Category::Abuse)
                .count();
        }
    }
    // The corpus holds both, so the comparison compared something.
    assert!(
        payment_hits > 100 && abuse_hits > 50,
        "{payment_hits} {abuse_hits}"
    );
}

#[test]
fn the_policy_detects_through_the_screen() {
    let policy = super::super::Policy::default();
    let hits = policy.detect("you idiot, pay me with Zelle instead");
    let rules: Vec<&str> = hits.iter().map(|h| h.rule).collect();
    assert_eq!(rules, ["zelle", "abuse"]);
}

#[test]
fn without_the_joined_regex_each_reads_the_text_alone() {
    // What a phrase list too large to join with payment's rules gets.
    let phrases = abuse::Phrases::built_in(&[]);
    let alone = Screen { any: None };
    let text = "you idiot, pay me with Zelle or PayPal friends and family";
    let mut hits = Vec::new();
    alone.detect(text, &phrases, &mut hits);
    let rules: Vec<&str> = hits.iter().map(|h| h.rule).collect();
    assert_eq!(rules, ["paypal_ff", "zelle", "abuse"]);
    assert_eq!(hits, both(&phrases, text).0);
}

#[test]
fn a_window_never_ends_inside_a_word() {
    // The window around "zelle" ends 96 bytes after it, here between
    // "idiot" and "ic": searched up to there, "idiot" would be a word.
    let head = "pay with zelle";
    let filler = " ok".repeat(30);
    let mut text = format!("{head}{filler}");
    text.push_str(&" ".repeat(head.len() + 96 - "idiot".len() - text.len()));
    text.push_str("idiotic questions, sorry");
    assert_eq!(&text[head.len() + 96 - 5..head.len() + 96], "idiot");
    let phrases = abuse::Phrases::built_in(&[]);
    let (alone, screened) = both(&phrases, &text);
    assert_eq!(alone, screened);
    assert!(screened.iter().all(|h| h.rule != "abuse"), "{screened:?}");
}
