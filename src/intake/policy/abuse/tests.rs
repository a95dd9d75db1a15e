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
    let p = Phrases::built_in(&[]);
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(hits(&p, "Such an IDIOT."), [pair("IDIOT", "idiot")]);
    assert_eq!(hits(&p, "so iiidiooot"), [pair("iiidiooot", "idiot")]);
    // After "you", the whole insult is one hit of its frame.
    assert_eq!(hits(&p, "You IDIOT."), [pair("You IDIOT", "insult")]);
    assert_eq!(hits(&p, "1d10t!"), [pair("1d10t", "idiot")]);
    assert_eq!(hits(&p, "they KILL-you"), [pair("KILL-you", "kill you")]);
    assert_eq!(
        hits(&p, "I will KILL-you"),
        [pair("I will KILL-you", "threat")]
    );
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
        ("that b**ch", "bitch"),
        ("the c#nt", "cunt"),
        ("a%%hole", "asshole"),
        ("total m*r*n", "moron"),
        ("1d**t", "idiot"),
        ("go back to your c*untry", "go back to your country"),
    ] {
        assert_eq!(hits(&p, text).len(), 1, "{text:?}");
        assert_eq!(hits(&p, text)[0].1, phrase, "{text:?}");
    }
}

#[test]
fn hate_without_a_listed_word() {
    let p = Phrases::built_in(&[]);
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
    let p = Phrases::built_in(&[]);
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
        // Sentences shaped like the frames' that are not abuse.
        "This price is a killer deal.",
        "Please send your address so I can ship it.",
        "What happens to my deposit if I cancel?",
        "I will cut the fabric to 2 m and post it.",
        "I'll share your number with the courier, ok?",
        "I'm coming to your shop with a van on Saturday.",
        "You are a lifesaver, thank you!",
        "The dirty dog bed is washed now.",
        "You people at the depot were very helpful.",
        "You people from the courier lost my parcel twice.",
        "All refugees are welcome at our stall.",
        "A typical Mexican dish, and a dirty black shoe.",
        "Typical Victorian desk, oak with brass handles.",
        "All women's sizes are in stock.",
        "I'm dying to see it in person.",
        "The shirt under the dress is included.",
        "Break a leg at the show tonight!",
        "I have your address, it ships Monday.",
        "White power bank, 10000 mAh, and a spic and span bottle.",
        "Rebuilt tranny, 40k miles, low life left on the clutch.",
        "Take the cover off yourself, it unclips.",
        "I'll come after you finish work.",
        "These items don't belong here, wrong category.",
        "I will make you pay only the shipping.",
        "durability c0 n194: model N194, part 5h17 and b17",
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
    let p = Phrases::built_in(&[]);
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

#[test]
fn sentences_without_a_listed_word() {
    let p = Phrases::built_in(&[]);
    for (text, frame) in [
        ("I'm gonna smash you when I pick it up", "threat"),
        ("we will burn your shop down", "threat"),
        ("I will knock on the door and break your nose", "threat"),
        (
            "Answer or you'll find out what happens to scammers.",
            "threat",
        ),
        ("I'm showing up at your house with my brothers.", "threat"),
        ("Je sais où tu habites.", "threat"),
        ("you're a lazy greedy rat", "insult"),
        ("u useless dickhead", "insult"),
        ("what a disgusting pig you are", "insult"),
        ("go f*ck yourself", "insult"),
        ("Eres un gilipollas.", "insult"),
        ("All immigrants are parasites.", "hate"),
        ("you people steal everything", "hate"),
        ("Refugees are criminals, everyone knows.", "hate"),
        ("immigrants should not be allowed to sell here", "hate"),
        ("typical foreigner, can't even write properly", "hate"),
        ("send nudes and it's yours for free", "sexual"),
        ("I'll publish your home address everywhere.", "doxxing"),
        ("I found your family on Facebook.", "doxxing"),
        ("go drink bleach", "self-harm"),
        ("the world would be better without you", "self-harm"),
    ] {
        let found = hits(&p, text);
        assert!(
            found.iter().any(|(_, value)| value == frame),
            "{text:?}: {found:?}"
        );
    }
    // Spelt out, and masked with @.
    for text in ["f u c k off", "you are a c.u.n.t", "f@ck off"] {
        assert_eq!(hits(&p, text).len(), 1, "{text:?}");
    }
}
