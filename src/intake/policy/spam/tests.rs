//! Unit tests of the tokenizer, the rules and the model file.

use super::features::{self, Sink};
use super::*;
use crate::intake::parse::parse;

struct Collect(Vec<String>);

impl Sink for Collect {
    fn token(&mut self, parts: &[&str]) {
        self.0.push(parts.concat().to_ascii_lowercase());
    }
}

fn tokens(raw: &str) -> (Vec<String>, Vec<&'static str>) {
    let parsed = parse(raw.as_bytes()).expect("parses");
    let mut sink = Collect(Vec::new());
    let rules = features::extract(&parsed, &mut sink);
    (sink.0, rules)
}

const HAM: &str = "From: Maria Lopez <maria@example.com>\r\nTo: desk@localhost\r\n\
Subject: Lot 12 shipping\r\nMessage-ID: <a@example.com>\r\n\r\n\
Hello, is lot 12 still available? Could you ship it to Lisbon next week?\r\n";

const SPAM: &str = "From: WINNER <prize@lotto.example.ru>\r\nTo: desk@localhost\r\n\
Subject: YOU HAVE WON\r\nContent-Type: text/html\r\n\r\n\
<html><body><p>CLICK HERE TO CLAIM YOUR LOTTERY PRIZE OF ONE MILLION DOLLARS NOW</p>\
<a href=\"http://bit.ly/abc\">http://www.yourbank.com/claim</a>\
<a href=\"http://x.example.ru/1\">a</a> <a href=\"http://x.example.ru/2\">b</a>\
<div style=\"display:none\">hidden words</div><img src=\"cid:1\"></body></html>\r\n";

#[test]
fn tokens_have_their_places() {
    let (t, rules) = tokens(HAM);
    for want in [
        "subject:lot",
        "subject:shipping",
        "from_name:maria",
        "from_domain:example.com",
        "from_tld:com",
        "available",
        "lisbon",
        "mailer:none",
        "recipients:1",
    ] {
        assert!(t.iter().any(|x| x == want), "{want} missing from {t:?}");
    }
    // Words shorter than three bytes are not tokens.
    assert!(!t.iter().any(|x| x == "12" || x == "is"));
    assert!(rules.is_empty(), "{rules:?}");
}

#[test]
fn long_words_and_urls() {
    let (t, _) = tokens(
        "From: a@b.example\r\nSubject: x\r\n\r\nsee https://Shop.Example.com/a?b=c and \
         supercalifragilisticexpialidocious\r\n",
    );
    assert!(t.iter().any(|x| x == "url:shop.example.com"), "{t:?}");
    assert!(t.iter().any(|x| x == "skip:s:30"), "{t:?}");
    // Word pairs, for phrases.
    assert!(t.iter().any(|x| x == "see"), "{t:?}");
    assert!(
        !t.iter().any(|x| x.starts_with("see ")),
        "a URL breaks a pair: {t:?}"
    );
}

#[test]
fn rules_fire_on_spam() {
    let (t, rules) = tokens(SPAM);
    for rule in [
        features::SUBJECT_ALL_CAPS,
        features::HTML_ONLY,
        features::HTML_HIDDEN_TEXT,
        features::HTML_LINK_MISMATCH,
        features::SHORTENER,
        features::ALL_CAPS,
        features::MONEY_WORDS,
        features::LINK_DENSITY,
    ] {
        assert!(rules.contains(&rule), "{rule} did not fire: {rules:?}");
        assert!(t.contains(&format!("rule:{rule}")));
    }
}

#[test]
fn money_words_need_two_terms() {
    let (_, rules) = tokens("From: a@b.example\r\n\r\nClick here for the photos.\r\n");
    assert!(!rules.contains(&features::MONEY_WORDS));
    let (_, rules) = tokens("From: a@b.example\r\n\r\nClick here: 100% FREE, no obligation.\r\n");
    assert!(rules.contains(&features::MONEY_WORDS));
}

#[test]
fn learns_and_round_trips() {
    let ham = parse(HAM.as_bytes()).unwrap();
    let spam = parse(SPAM.as_bytes()).unwrap();
    let model = Model::train([&ham], [&spam]);
    assert_eq!(model.messages(), (1, 1));
    assert!(model.score(&spam).probability > DEFAULT_HOLD_AT);
    assert!(model.score(&ham).probability < 0.5);
    let again = Model::parse(&model.to_text()).unwrap();
    assert_eq!(again, model);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.txt");
    model.save(&path).unwrap();
    assert_eq!(Model::load(&path).unwrap(), model);
    let mut trainer = Trainer::resume(again);
    trainer.add(&ham, false);
    assert_eq!(trainer.finish().messages(), (2, 1));
}

#[test]
fn bad_model_files_are_errors() {
    for text in [
        "",
        "something else\n",
        "parley-spam-model 1\n",
        "parley-spam-model 1\nmessages\tx\t1\n",
        "parley-spam-model 1\nmessages\t1\t1\n1\ttoken\n",
        "parley-spam-model 1\nmessages\t1\t1\n-1\t0\ttoken\n",
    ] {
        assert!(Model::parse(text).is_err(), "{text:?}");
    }
    assert!(matches!(
        Model::load(Path::new("/nonexistent/model")),
        Err(ModelError::Io { .. })
    ));
}

#[test]
fn the_shipped_model_parses() {
    let model = Model::default_model();
    assert!(model.messages().0 > 0 && model.messages().1 > 0);
    assert!(model.len() > 1000);
}

#[test]
fn garbage_does_not_panic() {
    let model = Model::default_model();
    let inputs: Vec<Vec<u8>> = vec![
        b"From: \xff\xfe\r\nSubject: \xc3\r\n\r\n\xe2\x82".to_vec(),
        b"Content-Type: text/html\r\n\r\n<a href=\"http://\xc3\xa9\">www.\xc3\xa9</a><<<".to_vec(),
        b"Subject: www.\xc3\xa9\xc3\xa9\r\n\r\nwww.\xc3\xa9\xc3\xa9 http:// https://. $$$ !!! ..."
            .to_vec(),
        [b"X: y\r\n\r\n".as_slice(), &[b'A'; 100_000]].concat(),
        [
            b"X: y\r\nContent-Type: text/html\r\n\r\n".as_slice(),
            &b"<a href=x>".repeat(20_000),
        ]
        .concat(),
    ];
    for raw in inputs {
        if let Some(parsed) = parse(&raw) {
            let p = model.score(&parsed).probability;
            assert!((0.0..=1.0).contains(&p));
        }
    }
}
