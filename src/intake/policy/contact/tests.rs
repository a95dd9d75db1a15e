use super::*;

fn hits(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    detect(text, &mut hits);
    for h in &hits {
        assert!(h.start < h.end && h.end <= text.len(), "{h:?} in {text:?}");
        assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
    }
    hits
}

/// The one hit in `text`: its rule, its span's text and its value.
#[track_caller]
fn one(text: &str) -> (&'static str, String, String) {
    let hits = hits(text);
    assert_eq!(hits.len(), 1, "{text:?}: {hits:?}");
    let h = &hits[0];
    (h.rule, text[h.start..h.end].to_string(), h.value.clone())
}

#[track_caller]
fn check(text: &str, rule: &str, span: &str, value: &str) {
    assert_eq!(
        one(text),
        (
            rule.to_string().leak() as &str,
            span.to_string(),
            value.to_string()
        ),
        "{text:?}"
    );
}

#[track_caller]
fn none(text: &str) {
    let hits = hits(text);
    assert!(hits.is_empty(), "{text:?}: {hits:?}");
}

#[test]
fn plain_email() {
    check(
        "reach me at maria.lopez82@gmail.com thanks",
        "email",
        "maria.lopez82@gmail.com",
        "maria.lopez82@gmail.com",
    );
    check(
        "My email: KEVIN.ODONNELL@OUTLOOK.COM",
        "email",
        "KEVIN.ODONNELL@OUTLOOK.COM",
        "kevin.odonnell@outlook.com",
    );
    check(
        "user@xn--80ak6aa92e.com",
        "email",
        "user@xn--80ak6aa92e.com",
        "user@xn--80ak6aa92e.com",
    );
    none("my email is info@presidio.");
    none("this is not an email: hello-world here");
}

#[test]
fn obfuscated_email() {
    let cases = [
        (
            "write me at maria dot lopez at gmail dot com",
            "maria dot lopez at gmail dot com",
            "maria.lopez@gmail.com",
        ),
        (
            "contact: peter(at)hotmail(dot)com",
            "peter(at)hotmail(dot)com",
            "peter@hotmail.com",
        ),
        (
            "my mail is jsmith [at] protonmail [dot] me",
            "jsmith [at] protonmail [dot] me",
            "jsmith@protonmail.me",
        ),
        (
            "jsmith {at} shop {dot} co {dot} uk",
            "jsmith {at} shop {dot} co {dot} uk",
            "jsmith@shop.co.uk",
        ),
        (
            "j.o.h.n.d.o.e @ g.m.a.i.l . c.o.m",
            "j.o.h.n.d.o.e @ g.m.a.i.l . c.o.m",
            "johndoe@gmail.com",
        ),
        (
            "m a r i a @ g m a i l . c o m",
            "m a r i a @ g m a i l . c o m",
            "maria@gmail.com",
        ),
        (
            "email me - anna underscore k at icloud",
            "anna underscore k at icloud",
            "anna_k@icloud.com",
        ),
        (
            "gmail is tonyrestores1977, message me there",
            "gmail is tonyrestores1977",
            "tonyrestores1977@gmail.com",
        ),
        ("my gmail is vera", "my gmail is vera", "vera@gmail.com"),
        (
            "reach me at sam-at-fastmail-dot-fm",
            "sam-at-fastmail-dot-fm",
            "sam@fastmail.fm",
        ),
        (
            "My email is john at gmail.com",
            "john at gmail.com",
            "john@gmail.com",
        ),
        (
            "write to bob @ yahoo.com",
            "bob @ yahoo.com",
            "bob@yahoo.com",
        ),
    ];
    for (text, span, value) in cases {
        check(text, "email_obfuscated", span, value);
    }
}

#[test]
fn at_and_dot_in_plain_english_are_no_address() {
    none("Let's meet at the station at noon.");
    none("Dot the i's and cross the t's.");
    none("The dot on the i in the signature is a bit faded.");
    none("At the end of the day I think the price is fair.");
    none("look at me, I'm at home");
    none("my gmail is down today");
    none("Find jobs at the market hall");
}

#[test]
fn phones() {
    let cases = [
        (
            "Call me on 555-867-5309 after 5pm",
            "555-867-5309",
            "5558675309",
        ),
        (
            "my number is (312) 555-0199",
            "(312) 555-0199",
            "3125550199",
        ),
        (
            "text me +1 415 555 2671 and I will",
            "+1 415 555 2671",
            "14155552671",
        ),
        (
            "Ring 020 7946 0958 to arrange",
            "020 7946 0958",
            "02079460958",
        ),
        (
            "WhatsApp: +44 7700 900123",
            "+44 7700 900123",
            "447700900123",
        ),
        ("cell 917.555.0143", "917.555.0143", "9175550143"),
        ("call 07700 900123", "07700 900123", "07700900123"),
        ("+49 30 123456", "+49 30 123456", "4930123456"),
        ("+44 (20) 7123 4567", "+44 (20) 7123 4567", "442071234567"),
        ("My CN number is 13812345678", "13812345678", "13812345678"),
        (
            "My phone number is 312-515-2239 ext. 12",
            "312-515-2239 ext. 12",
            "3125152239",
        ),
        ("+33 1 42 68 53 00", "+33 1 42 68 53 00", "33142685300"),
        ("call 5551234", "5551234", "5551234"),
    ];
    for (text, span, value) in cases {
        check(text, "phone", span, value);
    }
}

#[test]
fn spelled_phones() {
    let cases = [
        (
            "five five five, eight six seven, five three oh nine",
            "five five five, eight six seven, five three oh nine",
            "5558675309",
        ),
        (
            "call me at 5 5 5 1 2 3 4 5 6 7",
            "5 5 5 1 2 3 4 5 6 7",
            "5551234567",
        ),
        (
            "my cell is 555 one two three 4567",
            "555 one two three 4567",
            "5551234567",
        ),
        (
            "three one two - five five five - zero one nine nine",
            "three one two - five five five - zero one nine nine",
            "3125550199",
        ),
        ("phone: 4I5-555-26seven1", "4I5-555-26seven1", "4155552671"),
        (
            "ring 5five5 one two three 4567",
            "5five5 one two three 4567",
            "5551234567",
        ),
    ];
    for (text, span, value) in cases {
        check(text, "phone_spelled", span, value);
    }
}

#[test]
fn numbers_that_are_no_phone() {
    for text in [
        "The price is $450, or 1,200 EUR with the frame, 45.50 for the stand.",
        "$1,250.00 plus the buyer premium of 18%.",
        "It measures 120 x 80 x 45 cm, and he is 6'2\".",
        "Dates: 2026-11-21, 21/11/2026, 21.11.2026, Nov 21.",
        "Pickup at 10:30 or 11am, between 10 and 2.",
        "lot 1234567",
        "Lot 42 has five pieces, lot 43 has seven.",
        "order #123-4567890",
        "Order 2024-118-5530 says shipped",
        "serial SN 8842-1177-33",
        "model KX-TG6812",
        "invoice INV-2026-00042 and tracking 1Z999AA10123456784",
        "Item #4521873 arrived with a chip",
        "Zip 90210, postcode SW1A 1AA",
        "Made in 1985, restored 1990 2001.",
        "We have 1 200 000 units, 25000000 pieces",
        "firmware 10.0.19045.2006, server 192.168.100.200",
        "photo.jpg and scan.pdf are attached",
        "a 3.5 inches screen",
        "sizes 10 12 14 16 18",
        "I want one or two, maybe three.",
        "I ordered 2 one 5 9 times",
        "Dimensions 100 200 300, USD 1 500 000, and 4521873 in stock",
        "ISBN 978-3-16-148410-0",
        "Total: 1 234 567,00 €",
    ] {
        none(text);
    }
}

#[test]
fn urls_domains_shorteners() {
    check(
        "See www.oldbarnfinds.com for more",
        "url",
        "www.oldbarnfinds.com",
        "www.oldbarnfinds.com",
    );
    check(
        "all at https://shop.example-antiques.net/catalog.",
        "url",
        "https://shop.example-antiques.net/catalog",
        "shop.example-antiques.net",
    );
    check(
        "check out bit.ly/3xYzAbc now",
        "shortener",
        "bit.ly/3xYzAbc",
        "bit.ly",
    );
    check(
        "https://tinyurl.com/abc",
        "shortener",
        "https://tinyurl.com/abc",
        "tinyurl.com",
    );
    check("visit Example.COM", "domain", "Example.COM", "example.com");
    check(
        "my shop: www.shop.co.uk",
        "url",
        "www.shop.co.uk",
        "www.shop.co.uk",
    );
    check(
        "my shop: oldbarnfinds.com.",
        "domain",
        "oldbarnfinds.com",
        "oldbarnfinds.com",
    );
    check(
        "http://microsoft.vlaanderen",
        "url",
        "http://microsoft.vlaanderen",
        "microsoft.vlaanderen",
    );
    none("www.microsoft");
    none("http://microsoft");
    none("see photo.jpg, video.mov, data.zip, README.md, e.g. and i.e. the U.S. army");
    none("It was fine.Thanks for asking.Now what?");
    none("ok.so I was thinking, fine.it is");
    check(
        "see oldbarn.me/shop",
        "domain",
        "oldbarn.me/shop",
        "oldbarn.me",
    );
    check("t.me now", "domain", "t.me", "t.me");
    none("version 2.0.1 of the app, 3.5 stars, at 5.am");
}

#[test]
fn handles() {
    check(
        "find me on instagram @vintage_vera",
        "handle",
        "@vintage_vera",
        "instagram:vintage_vera",
    );
    check(
        "my snapchat is dan_the_collector",
        "handle",
        "dan_the_collector",
        "snapchat:dan_the_collector",
    );
    check(
        "skype: dean.malmgren\nnerd",
        "handle",
        "dean.malmgren",
        "skype:dean.malmgren",
    );
    check(
        "i'm dean.malmgren on skype",
        "handle",
        "dean.malmgren",
        "skype:dean.malmgren",
    );
    check(
        "on Skype. My ID is dean.malmgren",
        "handle",
        "dean.malmgren",
        "skype:dean.malmgren",
    );
    check("my ig is vera", "handle", "vera", "instagram:vera");
    check(
        "i tweet at @john_gmail",
        "handle",
        "@john_gmail",
        "twitter:john_gmail",
    );
    check(
        "My tweeter is @JOHN_JOHN123",
        "handle",
        "@JOHN_JOHN123",
        "twitter:john_john123",
    );
    check(
        "hit me up on telegram",
        "messenger",
        "hit me up on telegram",
        "telegram",
    );
    check(
        "text me on WhatsApp please",
        "messenger",
        "text me on WhatsApp",
        "whatsapp",
    );
    let telegram = hits("message me on telegram t.me/lampguy");
    assert!(
        telegram
            .iter()
            .any(|h| h.rule == "domain" && h.value == "t.me"),
        "{telegram:?}"
    );
}

#[test]
fn words_after_platform_names_are_no_handles() {
    none("I saw it on instagram for the first time");
    none("my instagram is private");
    none("Is this on facebook marketplace too?");
    none("The signal is weak here, the line is busy.");
    none("This is an invalid handle @TwitterInfo");
    none("Thanks @Sarah, see you Friday");
    none("Im not on instant messengers");
}

#[test]
fn spans_are_exact_around_non_ascii() {
    let text = "Grüße aus Köln — schreib mir: jürgen.k@gmail.com oder ruf an: +49 30 123456 😀 www.händler.de? straße.de";
    let hits = hits(text);
    let found: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| (h.rule, &text[h.start..h.end]))
        .collect();
    assert_eq!(
        found,
        [
            ("email", "jürgen.k@gmail.com"),
            ("phone", "+49 30 123456"),
            ("url", "www.händler.de"),
            ("domain", "straße.de")
        ]
    );
    assert_eq!(hits[0].value, "jürgen.k@gmail.com");
    let text = "日本語のテキスト 555-867-5309 と maria dot lopez at gmail dot com です";
    let found: Vec<(&str, String)> = self::hits(text)
        .iter()
        .map(|h| (h.rule, text[h.start..h.end].to_string()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("phone", "555-867-5309".to_string()),
            (
                "email_obfuscated",
                "maria dot lopez at gmail dot com".to_string()
            )
        ]
    );
}

#[test]
fn no_panic_on_odd_input() {
    let pieces = [
        "@", ".", "at", " dot ", "+", "(", ")", "-", "5", "five", "ü", "😀", "\u{0301}",
        "\u{200b}", "I", "O", "ß", "İ", "ﬃ", "K", "x", "ext.", "www.", "http://", "$", "#", "\n",
        "\t", "gmail", "skype", "@a_1", "日本", "\u{feff}", "ǅ", "a.b", "bit.ly/", "0x",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..(seed % 60) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        hits(&text);
    }
    let long = "call 555 one two 😀 maria at gmail dot com www.a.com @b_1 ".repeat(5_000);
    assert!(hits(&long).len() >= 15_000);
    hits(&"5".repeat(100_000));
    hits(&"a.".repeat(50_000));
    hits(&"x at ".repeat(20_000));
    hits(&"ü@".repeat(20_000));
}

/// Each hit of `text` as (rule, value).
fn found(text: &str) -> Vec<(&'static str, String)> {
    hits(text).into_iter().map(|h| (h.rule, h.value)).collect()
}

/// `text` has one hit, of `rule` with `value`.
#[track_caller]
fn only(text: &str, rule: &'static str, value: &str) {
    assert_eq!(found(text), [(rule, value.to_string())], "{text:?}");
}

#[test]
fn hosts_written_in_words() {
    for (text, host) in [
        ("our shop is mariasvintage dot com", "mariasvintage.com"),
        ("see barnfinds (dot) de for more", "barnfinds.de"),
        ("www dot old-barn dot co dot uk", "www.old-barn.co.uk"),
        ("VINTAGE-LAMPS DOT SHOP", "vintage-lamps.shop"),
    ] {
        only(text, "domain", host);
    }
    for text in [
        "the dot com bubble is long over",
        "click the red dot it opens the photo",
        "a polka dot com forter, ha",
        "put a dot at the end",
        "dot matrix printer, works",
    ] {
        none(text);
    }
}

#[test]
fn providers_named_with_the_user_name() {
    for (text, address) in [
        (
            "add me on yahoo, username marialopez",
            "marialopez@yahoo.com",
        ),
        ("my libero is anna.rossi", "anna.rossi@libero.it"),
        ("seznam: pavel77", "pavel77@seznam.cz"),
        ("write to pavel at seznam", "pavel@seznam.cz"),
        ("gmail user name tony1977", "tony1977@gmail.com"),
    ] {
        only(text, "email_obfuscated", address);
    }
    for text in [
        "is your yahoo username the same as here?",
        "I use gmail, user friendly enough",
        "the qq ratio on the lot photos",
    ] {
        none(text);
    }
}

#[test]
fn at_and_dot_in_other_languages_and_brackets() {
    for (text, address) in [
        (
            "escríbeme: ana punto ruiz arroba gmail punto com",
            "ana.ruiz@gmail.com",
        ),
        ("écris-moi: paul arobase orange point fr", "paul@orange.fr"),
        ("Mail: jan punkt ott ät web punkt de", "jan.ott@web.de"),
        (
            "scrivimi: luca chiocciola libero punto it",
            "luca@libero.it",
        ),
        ("pisz: ewa_k małpa onet kropka pl", "ewa_k@onet.pl"),
        ("mail: kees apenstaartje ziggo punt nl", "kees@ziggo.nl"),
        ("its ann[.]lee[@]aol[.]com", "ann.lee@aol.com"),
        ("peter(@)mail(.)de", "peter@mail.de"),
    ] {
        only(text, "email_obfuscated", address);
    }
    for text in [
        "the point is we meet at noon",
        "ponto de encontro na estação",
        "Punkt 12 Uhr am Bahnhof",
    ] {
        none(text);
    }
}

#[test]
fn spaced_and_hyphenated_addresses() {
    for (text, address) in [
        ("p-a-u-l-.-k-i-m-@-g-m-x-.-d-e", "paul.kim@gmx.de"),
        ("tonyb77 @ y a h o o", "tonyb77@yahoo.com"),
        ("r-o-s-a at hotmail", "rosa@hotmail.com"),
    ] {
        only(text, "email_obfuscated", address);
    }
    for text in ["a b c at home", "x-y-z at the station", "see you @ 5 pm"] {
        none(text);
    }
    // The spaced search asks for its groups only when letters stand alone:
    // every address spelt out has three in a row, a plain "lopez at gmail"
    // none.
    for text in [
        "p-a-u-l-.-k-i-m-@-g-m-x-.-d-e",
        "tonyb77 @ y a h o o",
        "r-o-s-a at hotmail",
        "j.o.h.n @ g.m.a.i.l . c.o.m",
        "m a r i a @ g m a i l . c o m",
    ] {
        assert!(email::has_spaced_run(text), "{text:?}");
    }
    for text in ["lopez at gmail", "a b at home", "mk2 @ 5 pm", "x 1 yz"] {
        assert!(!email::has_spaced_run(text), "{text:?}");
    }
}

#[test]
fn a_long_chain_of_words_before_an_address_keeps_its_last_64_bytes() {
    let text = "ref alpha dot bravo dot charlie dot delta dot echo dot foxtrot dot golf \
                dot hotel dot india dot juliet dot maria at gmail dot com";
    only(
        text,
        "email_obfuscated",
        "bravo.charlie.delta.echo.foxtrot.golf.hotel.india.juliet.maria@gmail.com",
    );
    // A dozen spaced letters and more before the "@".
    only(
        "a b c d e f g h i j k l m n o p q r s t u v w x y z @ g m a i l . c o m",
        "email_obfuscated",
        "abcdefghijklmnopqrstuvwxyz@gmail.com",
    );
}

#[test]
fn addresses_told_in_parts() {
    for text in [
        "my username here plus 7 at the end, it's a hotmail",
        "yahoo, first name dot last name",
    ] {
        assert_eq!(
            found(text).first().map(|f| f.0),
            Some("email_obfuscated"),
            "{text:?}"
        );
    }
    assert!(found("what's your gmail username?").is_empty());
}

#[test]
fn phones_in_other_groupings_and_languages() {
    for (text, digits) in [
        ("appelle-moi au 07 12 34 56 78", "0712345678"),
        ("llámame al 622 345 789", "622345789"),
        ("zadzwoń 501 234 567", "501234567"),
        ("chiamami 333 987 6543", "3339876543"),
        ("(+33)(6)(12)(34)(56)(78)", "33612345678"),
        ("(0)6.12.34.56.78", "0612345678"),
        ("texte-moi 612.34.56.789", "6123456789"),
    ] {
        only(text, "phone", digits);
    }
    for text in [
        "ISBN for the set: 978-3-16-148410-0",
        "IMEI 356938035643809 on the box",
        "parcel 12345678901234 arrives Monday",
        "server at 192.168.10.200 is down",
        "sizes 8 10 12 14 16 in stock",
        "build 10.0.19041.1234",
    ] {
        none(text);
    }
}

#[test]
fn numbers_spelled_in_other_languages() {
    for (text, digits) in [
        (
            "zéro sept, douze, trente-quatre, cinquante-six, soixante-dix-huit",
            "0712345678",
        ),
        (
            "null sechs eins, zwei drei vier, fünf sechs sieben",
            "061234567",
        ),
        (
            "seis uno dos, treinta y cuatro, cinco seis siete ocho",
            "6123456 78",
        ),
        ("tre tre tre, nove otto sette, sei cinque", "33398765"),
        ("nul zes, een twee drie, vier vijf zes", "061234 56"),
        (
            "pięćset jeden, dwieście trzydzieści cztery, sto dwa",
            "501234102",
        ),
        ("oh seven double seven, triple nine, one two", "07779991 2"),
        ("o7g11 l23 4S6", "07911123456"),
    ] {
        let digits: String = digits.chars().filter(|c| !c.is_whitespace()).collect();
        let f = found(text);
        assert!(
            f.iter().any(|(r, v)| *r == "phone_spelled" && *v == digits),
            "{text:?}: {f:?}"
        );
    }
    for text in [
        "due to the rain, one or two days late",
        "un deux trois, c'est parti",
        "dos o tres sillas y una mesa",
        "Once I had seven cats",
        "the S10 and the i5, both fine",
    ] {
        none(text);
    }
}

#[test]
fn messengers_as_verbs_and_in_other_languages() {
    for (text, platform) in [
        ("Viber me when you're free", "viber"),
        ("whats app me later", "whatsapp"),
        ("let's move this to Telegram", "telegram"),
        ("continue on WA please", "whatsapp"),
        ("scrivimi su WhatsApp", "whatsapp"),
        ("schreib mir auf Signal", "signal"),
        ("napisz na Messengerze", "facebook"),
        ("odezwij się na WhatsAppie", "whatsapp"),
        ("écris-moi sur Insta", "instagram"),
        ("app me even", "whatsapp"),
        ("stuur me een appje", "whatsapp"),
    ] {
        only(text, "messenger", platform);
    }
    for text in [
        "snap me a photo of the label",
        "My kids are always on WhatsApp.",
        "the app me and my wife use is fine",
        "line us up for Friday",
    ] {
        none(text);
    }
}

#[test]
fn urls_spelled_out_or_in_brackets() {
    for (text, host) in [
        ("h t t p s : / / oakshop . store", "oakshop.store"),
        ("h-t-t-p-:-/-/-lampen.nl", "lampen.nl"),
        ("my site: woodworks(.)art", "woodworks.art"),
        ("see ceramiche punto com", "ceramiche.com"),
    ] {
        assert_eq!(
            found(text).iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
            [host],
            "{text:?}"
        );
    }
}

#[test]
fn a_word_list_holds_its_words_in_any_case_and_nothing_else() {
    const LIST: WordList = WordList::new(&[
        "lot",
        "s/n",
        "téléphone",
        "confirmation",
        "averyveryverylongword",
        "x",
    ]);
    for word in LIST.words {
        assert!(LIST.holds(word), "{word}");
        assert!(LIST.holds(&word.to_uppercase()), "{word}");
    }
    assert!(LIST.holds("Lot") && LIST.holds("TÉLÉPHONE") && LIST.holds("S/N"));
    // Same length and first letter, or a long word sharing the length
    // bucket: compared, and not held.
    for word in [
        "lox",
        "confirmations",
        "averyveryverylongwore",
        "y",
        "",
        "telephone",
        "lots",
    ] {
        assert!(!LIST.holds(word), "{word}");
    }
}

#[test]
fn number_words_with_letters_outside_ascii_are_read_in_any_case() {
    // "fünf", "zwölf": Latin-1 letters inside, ASCII ends; "FÜNF" must
    // be read as "fünf" (its shape is checked before it is lowercased).
    for text in [
        "ruf mich an: null sechs fünf zwölf drei vier fünf sechs sieben",
        "RUF MICH AN: NULL SECHS FÜNF ZWÖLF DREI VIER FÜNF SECHS SIEBEN",
        "Ruf mich an: Null Sechs Fünf Zwölf Drei Vier Fünf Sechs Sieben",
    ] {
        let hits = hits(text);
        assert!(
            hits.iter()
                .any(|h| h.rule == "phone_spelled" && h.value == "0651234567"),
            "{text}: {hits:?}"
        );
    }
}

#[test]
fn numbers_are_found_eight_bytes_at_a_time_as_one_at_a_time() {
    let starts = |b: u8| b.is_ascii_digit() || b == b'+' || b == b'(';
    // Every byte near the range, non-ASCII bytes whose low seven bits are
    // in it, at every offset of an eight.
    let alphabet: &[u8] = b"09+()*,-./:;' a\xa8\xb9\xc3\xa9";
    let mut seed = 0x9e37_79b9_u32;
    for len in 0..40 {
        for _ in 0..200 {
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    alphabet[seed as usize % alphabet.len()]
                })
                .collect();
            for from in 0..=len {
                let want = text[from..]
                    .iter()
                    .position(|&b| starts(b))
                    .map(|o| from + o);
                assert_eq!(phone::next_start(&text, from), want, "{text:?} from {from}");
            }
        }
    }
}
