use super::*;

fn phrases(list: &[&str]) -> Phrases {
    Phrases::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

fn hits(p: &Phrases, text: &str) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    p.detect(text, &mut hits);
    hits.into_iter()
        .map(|h| {
            assert!(h.start < h.end && h.end <= text.len());
            assert_eq!((h.rule, h.category), ("abuse", Category::Abuse));
            (text[h.start..h.end].to_string(), h.value)
        })
        .collect()
}

#[test]
fn whole_words_case_and_disguises() {
    let p = Phrases::new(&default_list());
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(hits(&p, "You IDIOT."), [pair("IDIOT", "idiot")]);
    assert_eq!(hits(&p, "you iiidiooot"), [pair("iiidiooot", "idiot")]);
    assert_eq!(hits(&p, "1d10t!"), [pair("1d10t", "idiot")]);
    assert_eq!(hits(&p, "I will KILL-you"), [pair("KILL-you", "kill you")]);
    assert_eq!(
        hits(&p, "kill   yourself"),
        [pair("kill   yourself", "kill yourself")]
    );
    assert_eq!(
        hits(&p, "Du bist ein Idiot — wirklich"),
        [pair("Idiot", "idiot")]
    );
    // Letters masked inside a word.
    for (text, phrase) in [
        ("f*ck off", "fuck off"),
        ("F**K YOU", "fuck you"),
        ("you b**ch", "bitch"),
        ("stupid c#nt", "cunt"),
        ("a%%hole", "asshole"),
        ("you m*r*n", "moron"),
        ("1d**t", "idiot"),
        ("go back to your c*untry", "go back to your country"),
    ] {
        assert_eq!(hits(&p, text).len(), 1, "{text:?}");
        assert_eq!(hits(&p, text)[0].1, phrase, "{text:?}");
    }
}

#[test]
fn hate_without_a_listed_word() {
    let p = Phrases::new(&default_list());
    for text in [
        "Go back to your country, we don't sell to you.",
        "why don't you go back where you came from",
        "You are subhuman.",
        "People like that deserve to die.",
    ] {
        assert_eq!(hits(&p, text).len(), 1, "{text:?}");
    }
}

#[test]
fn ordinary_words_are_not_hit() {
    let p = Phrases::new(&default_list());
    for text in [
        "That was an idiotic idea of the courier, sorry.",
        "Scunthorpe is where I live.",
        "The skill you need is patience.",
        "Grapes and rapeseed oil, a cocktail and a class.",
        "Can you hold it until Friday?",
        // Marketplace language that sounds hard and is not.
        "This wait is killing me, when does it ship?",
        "Only a stupid little scratch on the lid.",
        "What the f*** happened to the parcel?",
        "Back to square one: the courier sent it back to my country.",
        "Price: 25 * 2 = 50, ok?",
        "f*** it, I'll take both",
    ] {
        assert!(hits(&p, text).is_empty(), "{text:?}: {:?}", hits(&p, text));
    }
}

#[test]
fn configured_phrases_non_ascii_and_empty() {
    let p = phrases(&["сука", "  Arsch  loch ", "", "a.b"]);
    assert_eq!(hits(&p, "ты сука!")[0].1, "сука");
    assert_eq!(hits(&p, "du arsch loch")[0].1, "Arsch loch");
    assert_eq!(hits(&p, "a.b")[0].1, "a.b");
    assert!(hits(&p, "axb").is_empty());
    let empty = phrases(&["", "  "]);
    assert!(hits(&empty, "anything").is_empty());
}

#[test]
fn no_panic_on_odd_input() {
    let p = Phrases::new(&default_list());
    let pieces = [
        "idiot", "1", "ü", "😀", "\u{0301}", " ", "-", "k", "i", "l", "you", "İ", "ﬃ",
    ];
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..(seed % 60) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        hits(&p, &text);
    }
    assert_eq!(hits(&p, &"idiot ".repeat(10_000)).len(), 10_000);
}
