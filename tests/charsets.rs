//! Charsets and transfer encodings through `intake::parse::parse` (its
//! `text` and `subject`), and the fallbacks of `intake::charset` for what
//! mail-parser gets wrong.
//!
//! Tests named `parse_*_gap` show, through `parse`, a case mail-parser alone
//! decodes lossily or into mojibake, and that `parse` gets right by taking
//! its text, subject and headers from `intake::charset`. Each has a twin
//! that checks the fallback directly.

mod common;

use mail_parser::MessageParser;
use parley::intake::charset;
use parley::intake::parse::{Parsed, parse};

fn parsed(raw: &[u8]) -> Parsed {
    parse(raw).expect("the test message parses")
}

/// The body text as `parse` gives it (CRLF already made LF there).
fn text(raw: &[u8]) -> String {
    parsed(raw).text
}

/// The body text through the charset fallbacks, as `parse` would give it.
fn fallback_text(raw: &[u8]) -> String {
    let message = MessageParser::default().parse(raw).unwrap();
    charset::body_text(&message).unwrap().replace("\r\n", "\n")
}

fn fallback_subject(raw: &[u8]) -> Option<String> {
    charset::subject(&MessageParser::default().parse(raw).unwrap())
}

/// One text/plain message with `charset` (none when empty), transfer
/// `encoding` and `body` as it goes on the wire.
fn plain(charset: &str, encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut raw =
        b"From: a@example.com\r\nTo: desk@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
            .to_vec();
    if charset.is_empty() {
        raw.extend_from_slice(b"Content-Type: text/plain\r\n");
    } else {
        raw.extend_from_slice(
            format!("Content-Type: text/plain; charset={charset}\r\n").as_bytes(),
        );
    }
    if !encoding.is_empty() {
        raw.extend_from_slice(format!("Content-Transfer-Encoding: {encoding}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw.extend_from_slice(b"\r\n");
    raw
}

fn with_subject(subject: &[u8]) -> Vec<u8> {
    let mut raw = b"From: a@example.com\r\nSubject: ".to_vec();
    raw.extend_from_slice(subject);
    raw.extend_from_slice(b"\r\n\r\nbody\r\n");
    raw
}

/// What `parse` must give at the least for a case it decodes wrongly: no
/// panic, and every ASCII word of the right text still there.
fn keeps_ascii(got: &str, want: &str) {
    for word in want.split_whitespace().filter(|w| w.is_ascii()) {
        assert!(got.contains(word), "{word:?} lost in {got:?}");
    }
}

// Declared correctly: mail-parser gets these right.

#[test]
fn windows_1252() {
    let want = "“Lot 12” costs 100 € – naïve café\n";
    let body = b"\x93Lot 12\x94 costs 100 \x80 \x96 na\xefve caf\xe9";
    assert_eq!(text(&plain("windows-1252", "8bit", body)), want);
    assert_eq!(text(&plain("\"Windows-1252\"", "", body)), want);
    // Outlook labels windows-1252 text as iso-8859-1; mail-parser reads
    // every Latin-1 label as windows-1252, so the quotes and € survive.
    assert_eq!(
        text(&plain(
            "iso-8859-1",
            "quoted-printable",
            b"=93Lot 12=94 costs 100 =80 =96 na=EFve caf=E9"
        )),
        want
    );
}

#[test]
fn latin1_mislabelled_as_us_ascii() {
    // us-ascii is read as windows-1252 too: 8-bit Latin-1 comes through.
    assert_eq!(
        text(&plain(
            "us-ascii",
            "",
            b"Gr\xfc\xdfe aus K\xf6ln, Stra\xdfe"
        )),
        "Grüße aus Köln, Straße\n"
    );
}

#[test]
fn utf8_without_charset() {
    // No Content-Type charset (and no Content-Type at all): UTF-8.
    let raw = "From: a@example.com\r\nSubject: t\r\n\r\nGrüße “Lot” € 日本\r\n";
    assert_eq!(text(raw.as_bytes()), "Grüße “Lot” € 日本\n");
    assert_eq!(
        text(&plain("", "8bit", "Grüße “Lot” €".as_bytes())),
        "Grüße “Lot” €\n"
    );
}

const LOT_JA: &str = "ロット12はまだありますか？";

#[test]
fn iso_2022_jp() {
    // 7bit, as Japanese mail clients send it.
    let jis = b"\x1b$B%m%C%H\x1b(B12\x1b$B$O$^$@$\"$j$^$9$+!)\x1b(B";
    assert_eq!(
        text(&plain("ISO-2022-JP", "7bit", jis)),
        format!("{LOT_JA}\n")
    );
    // base64, with an encoded subject in the same charset.
    let raw = b"From: a@example.com\r\n\
Subject: =?ISO-2022-JP?B?GyRCJW0lQyVIGyhCMTI=?=\r\n\
Content-Type: text/plain; charset=iso-2022-jp\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
GyRCJW0lQyVIGyhCMTIbJEIkTyReJEAkIiRqJF4kOSQrISkbKEI=\r\n";
    let p = parsed(raw);
    assert_eq!(p.text, LOT_JA);
    assert_eq!(p.subject.as_deref(), Some("ロット12"));
}

#[test]
fn shift_jis() {
    let sjis = b"\x83\x8d\x83b\x83g12\x82\xcd\x82\xdc\x82\xbe\x82\xa0\x82\xe8\x82\xdc\x82\xb7\x82\xa9\x81H";
    assert_eq!(
        text(&plain("Shift_JIS", "8bit", sjis)),
        format!("{LOT_JA}\n")
    );
    assert_eq!(
        text(&plain(
            "shift_jis",
            "base64",
            b"g42DYoNnMTKCzYLcgr6CoILogtyCt4KpgUg="
        )),
        LOT_JA
    );
    // Windows' name for it.
    assert_eq!(
        text(&plain("windows-31j", "8bit", sjis)),
        format!("{LOT_JA}\n")
    );
}

#[test]
fn gb2312_and_gbk() {
    let want = "第12号拍品还有吗？谢谢";
    assert_eq!(
        text(&plain(
            "gb2312",
            "base64",
            b"tdoxMrrFxcTGt7u509DC8KO/0LvQuw=="
        )),
        want
    );
    let gbk = b"\xb5\xda12\xba\xc5\xc5\xc4\xc6\xb7\xbb\xb9\xd3\xd0\xc2\xf0\xa3\xbf\xd0\xbb\xd0\xbb";
    assert_eq!(text(&plain("GBK", "8bit", gbk)), format!("{want}\n"));
    assert_eq!(text(&plain("GB18030", "8bit", gbk)), format!("{want}\n"));
}

#[test]
fn koi8_r() {
    let raw = b"From: a@example.com\r\n\
Subject: =?koi8-r?b?8NLJ18XU?=\r\n\
Content-Type: text/plain; charset=koi8-r\r\n\
\r\n\
\xec\xcf\xd4 12 \xc5\xdd\xa3 \xc4\xcf\xd3\xd4\xd5\xd0\xc5\xce?\r\n";
    let p = parsed(raw);
    assert_eq!(p.text, "Лот 12 ещё доступен?\n");
    assert_eq!(p.subject.as_deref(), Some("Привет"));
}

#[test]
fn utf_16() {
    let want = "Lot 12 – ça va?";
    // With a byte order mark, and without one under an explicit label.
    assert_eq!(
        text(&plain(
            "utf-16",
            "base64",
            b"//5MAG8AdAAgADEAMgAgABMgIADnAGEAIAB2AGEAPwA="
        )),
        want
    );
    assert_eq!(
        text(&plain(
            "UTF-16LE",
            "base64",
            b"TABvAHQAIAAxADIAIAATICAA5wBhACAAdgBhAD8A"
        )),
        want
    );
}

#[test]
fn quoted_printable() {
    let body = b"This is a long line that the mailer wr=\r\n\
apped, caf=C3=A9 =3D ok=20\r\n\
Trailing space kept=20\r\n\
Trailing blanks dropped   \r\n\
Soft break at the end=\r\n";
    assert_eq!(
        text(&plain("utf-8", "quoted-printable", body)),
        "This is a long line that the mailer wrapped, café = ok \n\
Trailing space kept \n\
Trailing blanks dropped\n\
Soft break at the end\n"
    );
    // Lowercase hex and a soft break inside a multi-byte character.
    assert_eq!(
        text(&plain("utf-8", "quoted-printable", b"na=c3=\r\n=afve")),
        "naïve\n"
    );
}

#[test]
fn encoded_subjects() {
    for (subject, want) in [
        (&b"=?iso-8859-1?q?Gr=FC=DFe?="[..], "Grüße"),
        (b"=?utf-8?b?S8O2bG4=?=", "Köln"),
        // Mixed charsets; white space between encoded words goes, white
        // space next to plain text stays.
        (
            b"Re: =?iso-8859-1?q?Gr=FC=DFe?= aus =?utf-8?b?S8O2bG4=?= =?UTF-8?Q?_und_M=C3=BCnchen?=",
            "Re: Grüße aus Köln und München",
        ),
        (b"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        (b"=?utf-8?q?a?=\r\n =?iso-8859-1?q?=E9?=", "aé"),
        // Folded over lines.
        (
            b"=?UTF-8?B?5pys5pel44Gu?=\r\n =?UTF-8?B?5YWl5pyt57WQ5p6c?=",
            "本日の入札結果",
        ),
        (b"=?ISO-8859-15?Q?Preis_f=FCr_Los_12:_100_=A4?=", "Preis für Los 12: 100 €"),
        (b"=?windows-1252?Q?=93Lot_12=94?=", "“Lot 12”"),
        (b"Lot 12 =?utf-8?Q?=E2=80=93?= still available?", "Lot 12 – still available?"),
        // UTF-8 in a header without encoding (RFC 6532).
        ("Grüße aus Köln".as_bytes(), "Grüße aus Köln"),
    ] {
        let raw = with_subject(subject);
        assert_eq!(
            parsed(&raw).subject.as_deref(),
            Some(want),
            "{}",
            String::from_utf8_lossy(subject)
        );
        assert_eq!(fallback_subject(&raw).as_deref(), Some(want));
    }
}

#[test]
fn html_only_is_converted() {
    let raw = b"From: a@example.com\r\n\
Subject: t\r\n\
Content-Type: text/html; charset=windows-1252\r\n\
\r\n\
<html><head><title>T</title><style>p { color: red }</style></head>\r\n\
<body><p>Hello&nbsp;there &amp; caf&eacute; \x93quoted\x94 \x80</p>\r\n\
<p>Second paragraph<br>next line</p><script>alert(1)</script></body></html>\r\n";
    let p = parsed(raw);
    assert!(!p.has_text_part);
    assert!(p.html.as_deref().unwrap().contains("<p>Hello&nbsp;there"));
    assert_eq!(
        p.text,
        "Hello there & café “quoted” €\n\nSecond paragraph\nnext line"
    );
    // The text part wins over the HTML one, in whichever order they come.
    let alternative = b"From: a@example.com\r\nSubject: t\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nPLAIN\r\n--b--\r\n";
    let p = parsed(alternative);
    assert_eq!(p.text, "PLAIN");
    assert!(p.has_text_part);
}

const GMAIL_HTML: &[u8] = b"From: a@example.com\r\n\
Subject: t\r\n\
Content-Type: text/html; charset=UTF-8\r\n\
\r\n\
<div dir=\"ltr\"><div>Is lot 12 still available?</div><div>Thanks,</div><div>Maria</div></div>\r\n";

#[test]
fn html_only_keeps_the_words() {
    let text = text(GMAIL_HTML);
    for word in ["Is lot 12 still", "Thanks,", "Maria"] {
        assert!(text.contains(word), "{word:?} in {text:?}");
    }
    assert!(!text.contains('<'), "{text:?}");
}

/// mail-parser's `html_to_text` breaks lines only at `<br>` and `</p>`:
/// Gmail's `<div>` lines would run together ("available?Thanks,Maria");
/// parse converts HTML with the block-aware `reply::html_to_text`.
#[test]
fn parse_html_div_lines_gap() {
    assert_eq!(
        text(GMAIL_HTML).trim_end(),
        "Is lot 12 still available?\nThanks,\nMaria"
    );
}

// Mislabelled or unlabelled: mail-parser loses characters or makes
// mojibake; `intake::charset` repairs it.

/// (raw message, the right text)
fn mislabelled_bodies() -> Vec<(Vec<u8>, &'static str)> {
    vec![
        // Latin-1 bytes declared UTF-8: mail-parser gives "caf\u{fffd}".
        (
            plain(
                "utf-8",
                "8bit",
                b"Gr\xfc\xdfe, caf\xe9 \x93Lot 12\x94 for 100 \x80",
            ),
            "Grüße, café “Lot 12” for 100 €\n",
        ),
        // ... and with no charset at all.
        (
            plain("", "8bit", b"Gr\xfc\xdfe aus K\xf6ln"),
            "Grüße aus Köln\n",
        ),
        // ... and quoted-printable with an unknown label.
        (
            plain("x-unknown", "quoted-printable", b"caf=E9 cr=E8me"),
            "café crème\n",
        ),
        // Mostly UTF-8 with one stray Latin-1 byte: the UTF-8 stays.
        (
            plain(
                "utf-8",
                "8bit",
                b"Gr\xc3\xbc\xc3\x9fe from K\xc3\xb6ln, caf\xe9",
            ),
            "Grüße from Köln, café\n",
        ),
        // UTF-8 declared us-ascii or iso-8859-1 (PHP mail(), scripts):
        // mail-parser gives "GrÃ¼ÃŸe â€œLotâ€\u{fffd}".
        (
            plain("us-ascii", "8bit", "Grüße “Lot 12” €".as_bytes()),
            "Grüße “Lot 12” €\n",
        ),
        (
            plain(
                "iso-8859-1",
                "quoted-printable",
                b"Gr=C3=BC=C3=9Fe =E2=80=9CLot 12=E2=80=9D =E2=82=AC",
            ),
            "Grüße “Lot 12” €\n",
        ),
        // Outlook's old label for Big5, unknown to mail-parser.
        (
            plain("CHINESEBIG5", "8bit", b"\xa7A\xa6n\xa1A\xa5@\xac\xc9"),
            "你好，世界\n",
        ),
        // ISO-2022-JP without a label: mail-parser leaves the escapes.
        (plain("", "7bit", b"\x1b$B%m%C%H\x1b(B12"), "ロット12\n"),
    ]
}

#[test]
fn mislabelled_bodies_are_repaired_by_the_fallback() {
    for (raw, want) in mislabelled_bodies() {
        assert_eq!(
            fallback_text(&raw),
            want,
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }
}

#[test]
fn mislabelled_bodies_keep_their_ascii_through_parse() {
    for (raw, want) in mislabelled_bodies() {
        keeps_ascii(&text(&raw), want);
    }
}

#[test]
fn parse_mislabelled_bodies_gap() {
    for (raw, want) in mislabelled_bodies() {
        assert_eq!(text(&raw), want, "{}", String::from_utf8_lossy(&raw));
    }
}

/// (raw Subject value, the right subject)
fn broken_subjects() -> Vec<(&'static [u8], &'static str)> {
    vec![
        // Raw Latin-1 in the header: mail-parser gives "Gr\u{fffd}\u{fffd}e".
        (b"Gr\xfc\xdfe aus K\xf6ln", "Grüße aus Köln"),
        // A UTF-8 character split between two encoded words (not allowed
        // by RFC 2047, sent anyway): mail-parser gives "caf\u{fffd}\u{fffd}".
        (b"=?utf-8?q?Lot_12_caf=C3?= =?utf-8?q?=A9?=", "Lot 12 café"),
        (
            b"=?UTF-8?B?5pys5pel44Gu5YU=?=\r\n =?UTF-8?B?peacree1kOaenA==?=",
            "本日の入札結果",
        ),
    ]
}

#[test]
fn broken_subjects_are_repaired_by_the_fallback() {
    for (subject, want) in broken_subjects() {
        let raw = with_subject(subject);
        assert_eq!(fallback_subject(&raw).as_deref(), Some(want));
    }
}

#[test]
fn broken_subjects_keep_their_ascii_through_parse() {
    for (subject, want) in broken_subjects() {
        let got = parsed(&with_subject(subject)).subject.unwrap_or_default();
        keeps_ascii(&got, want);
    }
}

#[test]
fn parse_broken_subjects_gap() {
    for (subject, want) in broken_subjects() {
        let got = parsed(&with_subject(subject)).subject;
        assert_eq!(got.as_deref(), Some(want));
    }
}

/// `Parsed::headers` comes from mail-parser's `headers_raw`, which skips a
/// header whose raw value is not UTF-8: a Latin-1 Subject disappears from
/// what classification reads.
#[test]
fn parse_raw_latin1_header_gap() {
    let p = parsed(&with_subject(b"Abwesenheitsnotiz: Gr\xfc\xdfe"));
    assert_eq!(p.header("subject"), Some("Abwesenheitsnotiz: Grüße"));
}

#[test]
fn nothing_panics_on_odd_labels() {
    for charset in [
        "",
        "\"\"",
        "utf-7",
        "x-mac-roman",
        "iso-2022-kr",
        "hz-gb-2312",
        "unicode-1-1-utf-7",
        "bogus;;",
        "utf-16",
        "utf-32",
        "replacement",
        "x-user-defined",
    ] {
        for body in [
            &b"caf\xe9 \x1b$B%m\x1b(B \xff\xfe\x00"[..],
            b"",
            b"\x00\x00\x00",
            "日本".as_bytes(),
        ] {
            for encoding in ["8bit", "base64", "quoted-printable"] {
                let raw = plain(charset, encoding, body);
                let _ = parsed(&raw);
                let _ = fallback_text(&raw);
            }
        }
    }
}

/// The fallbacks over every message of the mail and spam fixtures:
/// no panic, and how often they change what mail-parser gives.
#[test]
fn fixtures_through_the_fallbacks() {
    let files: Vec<_> = ["mail", "spam"]
        .iter()
        .flat_map(|name| common::fixtures::files(&common::fixtures::folder(name)))
        .collect();
    let (mut messages, mut texts, mut subjects, mut lossy_before, mut lossy_after) =
        (0, 0, 0, 0, 0);
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        let Some(message) = MessageParser::default().parse(&raw) else {
            continue;
        };
        messages += 1;
        let before = message.body_text(0).map(|t| t.into_owned());
        let after = charset::body_text(&message);
        let _ = charset::body_html(&message);
        let _ = charset::headers_raw(&message).count();
        if before != after {
            texts += 1;
        }
        if message.subject().map(str::to_string) != charset::subject(&message) {
            subjects += 1;
        }
        lossy_before += usize::from(before.is_some_and(|t| t.contains('\u{fffd}')));
        lossy_after += usize::from(after.is_some_and(|t| t.contains('\u{fffd}')));
    }
    println!(
        "charset fallbacks over {messages} fixture messages: {texts} body texts and {subjects} \
         subjects changed; bodies with U+FFFD: {lossy_before} before, {lossy_after} after"
    );
    assert!(messages > 1000, "only {messages} fixture messages");
}
